"""Fails unless every built wheel says what its library's pyproject.toml says.

pyproject.toml is the one list of a library's metadata (name, version, summary, Python floor,
dependencies, extras, entry points); Pants builds the wheels from BUILD and from the imports it infers.
This compares the two (and that each wheel ships its py.typed marker), so a dependency the code never imports (uvicorn[standard]), a stub package the
inference drags in (types-PyYAML), or an extra declared on one side only is caught before publishing.

Usage: python3 .ci/check_wheels.py [dist]
"""

from __future__ import annotations

import ast
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # a bare interpreter: pip vendors the same library
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
# Extras that exist only for developing the library (tests, stubs), never published.
DEVELOPMENT_EXTRAS = frozenset({"test"})


def normalized(requirement: str) -> str:
    req = Requirement(requirement)
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    specifier = ",".join(sorted(str(s) for s in req.specifier))
    return f"{canonicalize_name(req.name)}{extras}{specifier}"


def depends_on() -> dict[str, tuple[str, ...]]:
    """The forward dependency table of build-support/commons.py."""
    tree = ast.parse((ROOT / "build-support/commons.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "_DEPENDS_ON" for t in node.targets):
            return dict(ast.literal_eval(node.value))
    raise SystemExit("build-support/commons.py has no _DEPENDS_ON table")


def wheel_metadata(wheel: Path) -> tuple[dict[str, list[str]], str, list[str]]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        message = Parser().parsestr(archive.read(metadata).decode())
        points = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
        entry_points = archive.read(points).decode() if points else ""
    fields: dict[str, list[str]] = {}
    for key, value in message.items():
        fields.setdefault(key, []).append(value)
    fields["Description"] = [str(message.get_payload())]
    return fields, entry_points, names


def parse_entry_points(text: str) -> dict[str, dict[str, str]]:
    groups: dict[str, dict[str, str]] = {}
    group = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            group = groups.setdefault(line[1:-1], {})
        elif "=" in line and group is not None:
            name, _, value = line.partition("=")
            group[name.strip()] = value.strip()
    return groups


def check(lib: str, dist: Path, table: dict[str, tuple[str, ...]], versions: dict[str, str]) -> list[str]:
    project = tomllib.loads((ROOT / f"libs/{lib}/pyproject.toml").read_text())["project"]
    name, version = project["name"], project["version"]
    wheels = sorted(dist.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if not wheels:
        return [f"no wheel {name}-{version} in {dist} (was `./pants package ::` run, and do BUILD and pyproject agree on the version?)"]
    fields, entry_points, files = wheel_metadata(wheels[-1])
    problems = []
    if f"internal_{lib}/py.typed" not in files:
        problems.append(f"internal_{lib}/py.typed is missing: type checkers would ignore the installed package")

    def same(field: str, expected: str) -> None:
        actual = fields.get(field, [""])[0]
        if actual != expected:
            problems.append(f"{field}: wheel says {actual!r}, pyproject says {expected!r}")

    same("Name", name)
    same("Version", version)
    same("Summary", project["description"])
    same("Requires-Python", project["requires-python"])
    if sorted(fields.get("Classifier", [])) != sorted(project.get("classifiers", [])):
        problems.append(
            f"Classifier: wheel says {sorted(fields.get('Classifier', []))}, "
            f"pyproject says {sorted(project.get('classifiers', []))}"
        )
    # The README is the index page: it must arrive as written (Pants' generated setup.py once
    # turned a backslash escape in it into a lone surrogate).
    readme = (ROOT / f"libs/{lib}/README.md").read_text()
    if fields.get("Description", [""])[0].strip() != readme.strip():
        problems.append("the long description differs from README.md (a backslash escape or encoding issue?)")

    runtime: set[str] = set()
    extras: dict[str, set[str]] = {}
    for requirement in fields.get("Requires-Dist", []):
        req = Requirement(requirement)
        marker = str(req.marker) if req.marker else ""
        req.marker = None
        if marker.startswith("extra =="):
            extras.setdefault(marker.split("==")[1].strip().strip("'\""), set()).add(normalized(str(req)))
        else:
            runtime.add(normalized(str(req)))
    internal = {r for r in runtime if r.startswith("internal-")}
    expected_internal = {
        normalized(f"internal-{dep}~={versions[dep]}") for dep in table.get(lib, ()) if dep != "testing"
    }
    # A sibling behind an extra (fastapi's [rdbms]) is not a hard dependency.
    expected_internal -= {r for reqs in extras.values() for r in reqs}
    if internal != expected_internal:
        problems.append(f"internal requirements: wheel {sorted(internal)}, expected {sorted(expected_internal)}")
    declared = {normalized(r) for r in project.get("dependencies", [])}
    for missing in sorted(declared - runtime):
        problems.append(f"pyproject dependency {missing} is missing from the wheel")
    for extra in sorted(runtime - internal - declared):
        problems.append(f"the wheel requires {extra}, which pyproject.toml does not declare")

    declared_extras = {
        key: {normalized(r) for r in value}
        for key, value in project.get("optional-dependencies", {}).items()
        if key not in DEVELOPMENT_EXTRAS
    }
    # Extras made only of sibling libraries live in BUILD (pyproject would make Pants lock
    # internal-* names from the public index): each must pin a library this one depends on.
    sibling_extras = {key: reqs for key, reqs in extras.items() if all(r.startswith("internal-") for r in reqs)}
    for key, reqs in sorted(sibling_extras.items()):
        allowed = {normalized(f"internal-{dep}~={versions[dep]}") for dep in table.get(lib, ())}
        if not reqs <= allowed or key in declared_extras:
            problems.append(f"extra [{key}]: {sorted(reqs)} must pin siblings in _DEPENDS_ON, in BUILD only")
    third_party_extras = {key: reqs for key, reqs in extras.items() if key not in sibling_extras}
    if declared_extras != third_party_extras:
        problems.append(
            f"extras: wheel {sorted(third_party_extras.items())}, pyproject {sorted(declared_extras.items())}"
        )

    declared_points = {group: dict(points) for group, points in project.get("entry-points", {}).items()}
    if declared_points != parse_entry_points(entry_points):
        problems.append(f"entry points: wheel {parse_entry_points(entry_points)}, pyproject {declared_points}")
    return problems


def main(dist: Path) -> int:
    table = depends_on()
    libs = sorted(p.name for p in (ROOT / "libs").iterdir() if (p / "pyproject.toml").exists())
    versions = {
        lib: tomllib.loads((ROOT / f"libs/{lib}/pyproject.toml").read_text())["project"]["version"] for lib in libs
    }
    status = 0
    for lib in libs:
        problems = check(lib, dist, table, versions)
        status |= bool(problems)
        print(f"wheel metadata {lib:<8} {'ok' if not problems else 'DIFFERS'}")
        for problem in problems:
            print(f"  - {problem}")
    return status


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "dist")))
