"""Fails when a library under libs/ is missing from any place that must name it.

Adding an eighth library is the short list in ARCHITECTURE.md ("Adding a library"); this check is
that list, executed: each library directory must appear in the build's dependency table, have a
resolve and a lockfile, the package files every wheel ships, tagged unit and integration tests, and
an entry in tox.ini, mypy.ini, ruff.toml, the README table and (when it has benchmarks) the harness.

Usage: python3 .ci/check_libraries.py
"""

from __future__ import annotations

import ast
import configparser
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def dependency_table() -> dict[str, tuple[str, ...]]:
    tree = ast.parse((ROOT / "build-support/commons.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "_DEPENDS_ON" for t in node.targets):
            return dict(ast.literal_eval(node.value))
    raise SystemExit("build-support/commons.py has no _DEPENDS_ON table")


def problems_of(lib: str, context: dict[str, object]) -> list[str]:
    home = ROOT / "libs" / lib
    package = f"internal_{lib}"
    found: list[str] = []

    def need(condition: bool, what: str) -> None:
        if not condition:
            found.append(what)

    table = context["table"]
    assert isinstance(table, dict)
    need(lib in table, f"a row for {lib!r} in _DEPENDS_ON (build-support/commons.py)")
    need(all(dep in table for dep in table.get(lib, ())), "dependencies that are libraries themselves")

    resolves = context["resolves"]
    assert isinstance(resolves, dict)
    need(lib in resolves, f"a resolve {lib!r} in pants.toml [python.resolves]")
    need(lib not in resolves or (ROOT / str(resolves[lib])).exists(), f"its lockfile {resolves.get(lib)}")

    for path in ("pyproject.toml", "README.md", "BUILD", f"src/{package}/py.typed", f"src/{package}/__init__.py"):
        need((home / path).exists(), f"libs/{lib}/{path}")
    build = (home / "BUILD").read_text() if (home / "BUILD").exists() else ""
    need(f'commons_library(\n    "{lib}"' in build or f'commons_library("{lib}"' in build, "commons_library() in its BUILD")
    if (home / "pyproject.toml").exists():
        name = tomllib.loads((home / "pyproject.toml").read_text())["project"]["name"]
        need(name == f"internal-{lib}", f"project name internal-{lib} in pyproject.toml (found {name})")
    # Every library has unit tests; integration tests where it talks to a server (not internal_base).
    for kind in ("unit", "integration"):
        tests = home / "tests" / kind
        if kind == "unit" or tests.exists():
            build = tests / "BUILD"
            need(build.exists() and f'tags=["{kind}"]' in build.read_text(), f"tests/{kind}/BUILD tagged {kind}")

    tox = str(context["tox"])
    need(f"libs/{lib}" in tox, "its install and test commands in tox.ini")
    need(f"libs/{lib}/src" in str(context["mypy_path"]), "libs/<lib>/src on mypy_path in mypy.ini")
    first_party = context["first_party"]
    assert isinstance(first_party, list)
    need(package in first_party, f"{package} in ruff.toml known-first-party")
    need(f"`internal-{lib}`" in str(context["readme"]), "a row in the README.md library table")
    need(package in str(context["architecture"]), f"{package} in ARCHITECTURE.md")

    if (home / "benchmarks").exists():
        module = f"bench_{lib}"
        need(f"libs/{lib}/benchmarks" in str(context["mypy_path"]), "libs/<lib>/benchmarks on mypy_path")
        need(module in first_party, f"{module} in ruff.toml known-first-party")
        need(f'Library("{lib}"' in str(context["registry"]), "its suite in benchmarks/commons_bench/_registry.py")
        need(f'"libs/{lib}/benchmarks"' in str(context["bench_build"]), "a dependency of benchmarks:run on it")
    return found


def main() -> int:
    libs = sorted(p.name for p in (ROOT / "libs").iterdir() if p.is_dir())
    mypy = configparser.ConfigParser()
    mypy.read(ROOT / "mypy.ini")
    ruff = tomllib.loads((ROOT / "ruff.toml").read_text())
    context: dict[str, object] = {
        "table": dependency_table(),
        "resolves": tomllib.loads((ROOT / "pants.toml").read_text())["python"]["resolves"],
        "tox": (ROOT / "tox.ini").read_text(),
        "mypy_path": mypy.get("mypy", "mypy_path", fallback=""),
        "first_party": ruff.get("lint", {}).get("isort", {}).get("known-first-party", []),
        "readme": (ROOT / "README.md").read_text(),
        "architecture": (ROOT / "ARCHITECTURE.md").read_text(),
        "registry": (ROOT / "benchmarks/commons_bench/_registry.py").read_text(),
        "bench_build": (ROOT / "benchmarks/BUILD").read_text(),
    }
    table = context["table"]
    assert isinstance(table, dict)
    status = 0
    for stray in sorted(set(table) - set(libs)):
        print(f"_DEPENDS_ON names {stray!r}, which is not a directory under libs/")
        status = 1
    for lib in libs:
        missing = problems_of(lib, context)
        status |= bool(missing)
        print(f"library {lib:<8} {'ok' if not missing else 'INCOMPLETE'}")
        for what in missing:
            print(f"  - missing: {what}")
    if re.search(r"for lib in (base|cache)", (ROOT / ".ci/publish_smoke.sh").read_text()):
        print(".ci/publish_smoke.sh lists libraries by hand; derive them from libs/")
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
