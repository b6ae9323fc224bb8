"""The steps of the dependency-confusion scenario that `.ci/decoy_publish.sh` runs (standard library only).

The scenario: the internal index (devpi ``root/internal``) is based on a mirror of the public index, and
the public index carries *decoys*: strangers' projects named like ours (``internal-rdbms``, as on real
PyPI) with higher versions. A consumer who runs the README's command must get every ``internal-*`` from
the internal index, every third-party package through the mirror, and never a decoy.

Run as a script: ``python3 tests/e2e/dependency_confusion.py <command> ...`` (``--help`` lists them).
The venv probe runs with the consumer venv's interpreter, so nothing here imports a third-party package.
"""

from __future__ import annotations

import argparse
import base64
import email.parser
import hashlib
import importlib
import importlib.metadata
import json
import re
import shlex
import sys
import sysconfig
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Check",
    "ConsumerCommand",
    "DECOY_ATTRIBUTE",
    "DECOY_MARKER_PREFIX",
    "ScenarioError",
    "Wheel",
    "build_decoy_wheel",
    "built_wheels",
    "canonicalize_name",
    "check_control",
    "check_install",
    "check_upload_refused",
    "consumer_command",
    "decoy_versions",
    "download_args",
    "library_versions",
    "main",
    "probe",
    "read_wheel",
    "requirement_name",
]

START_MARKER = "<!-- consumer-command -->"
END_MARKER = "<!-- /consumer-command -->"
# A decoy's package sets this attribute, and its wheel adds a top-level module named with this prefix, so
# a decoy that slipped in is visible both on import and on disk. Neither does anything else.
DECOY_ATTRIBUTE = "COMMONS_DECOY"
DECOY_MARKER_PREFIX = "commons_decoy_"

_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA_MARKER = re.compile(r"\bextra\s*==")
_BUILD_VERSION = re.compile(r"""\bversion\s*=\s*["']([^"']+)["']""")
_UNSAFE_PIP_OPTIONS = ("--extra-index-url", "--find-links", "-f", "--no-index")


class ScenarioError(Exception):
    """The scenario's inputs are not what it needs (missing wheel, README without its command, ...)."""


# --------------------------------------------------------------------------- names and wheels


def canonicalize_name(name: str) -> str:
    """The normalized project name (PEP 503): ``Internal_Base`` -> ``internal-base``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(line: str) -> str:
    """The normalized project name of a requirement such as ``redis[hiredis]>=5.0; marker``."""
    match = _NAME.match(line)
    if match is None:
        raise ScenarioError(f"not a requirement: {line!r}")
    return canonicalize_name(match.group(1))


def _requirement_extras(line: str) -> tuple[str, ...]:
    """The extras of a requirement: ``internal-fastapi[rdbms,cache]`` -> ``("rdbms", "cache")``."""
    match = re.match(r"\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*\[([^\]]*)\]", line)
    if match is None:
        return ()
    return tuple(e.strip() for e in match.group(1).split(",") if e.strip())


@dataclass(frozen=True)
class Wheel:
    """A built wheel and what its metadata declares."""

    path: Path
    name: str
    version: str
    requires: tuple[str, ...]

    def runtime_requirements(self) -> list[str]:
        """The Requires-Dist lines of a plain install (those not tied to an extra)."""
        return [r for r in self.requires if not _EXTRA_MARKER.search(r.partition(";")[2])]


def read_wheel(path: Path) -> Wheel:
    """Read name, version and Requires-Dist from a wheel's METADATA.

    Raises:
        ScenarioError: The file is not a wheel whose metadata matches its file name.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            meta = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1]
            if len(meta) != 1:
                raise ScenarioError(f"{path.name}: expected one .dist-info/METADATA, found {meta}")
            raw = zf.read(meta[0]).decode("utf-8")
    except zipfile.BadZipFile as exc:
        raise ScenarioError(f"{path}: not a wheel ({exc})") from exc
    message = email.parser.Parser().parsestr(raw, headersonly=True)
    name, version = message["Name"], message["Version"]
    if not name or not version:
        raise ScenarioError(f"{path.name}: METADATA lacks Name or Version")
    file_name, file_version = path.name.split("-")[:2]
    if canonicalize_name(name) != canonicalize_name(file_name) or version != file_version:
        raise ScenarioError(f"{path.name}: METADATA says {name} {version}")
    return Wheel(path, canonicalize_name(name), version, tuple(message.get_all("Requires-Dist") or ()))


def library_versions(libs_dir: Path) -> dict[str, str]:
    """The version each ``libs/<lib>/BUILD`` declares, by distribution name (``internal-<lib>``).

    Raises:
        ScenarioError: A library's BUILD file declares no version, or there are no libraries.
    """
    versions: dict[str, str] = {}
    for build in sorted(libs_dir.glob("*/BUILD")):
        match = _BUILD_VERSION.search(build.read_text())
        if match is None:
            raise ScenarioError(f"{build}: no version=... found")
        versions[f"internal-{canonicalize_name(build.parent.name)}"] = match.group(1)
    if not versions:
        raise ScenarioError(f"no libs/*/BUILD under {libs_dir}")
    return versions


def built_wheels(dist_dir: Path, versions: dict[str, str]) -> dict[str, Wheel]:
    """The wheel of each library at the version its BUILD declares, from `dist_dir`.

    Raises:
        ScenarioError: A library has no wheel of that version in `dist_dir`.
    """
    found: dict[str, Wheel] = {}
    for path in sorted(dist_dir.glob("internal_*.whl")):
        wheel = read_wheel(path)
        if versions.get(wheel.name) == wheel.version:
            found[wheel.name] = wheel
    missing = sorted(versions.keys() - found.keys())
    if missing:
        wanted = ", ".join(f"{n} {versions[n]}" for n in missing)
        raise ScenarioError(f"no wheel in {dist_dir} for {wanted}; run ./pants package ::")
    return found


# --------------------------------------------------------------------------- the README's command


@dataclass(frozen=True)
class ConsumerCommand:
    """The README's consumer command, split into pip arguments."""

    index_url: str
    options: tuple[str, ...]
    requirements: tuple[str, ...]

    def pip_args(self, index_url: str) -> list[str]:
        """The arguments after ``pip``, with the README's index URL replaced by `index_url`."""
        return ["install", "--index-url", index_url, *self.options, *self.requirements]


def consumer_command(readme_text: str) -> ConsumerCommand:
    """Extract the one ``pip install`` between the consumer-command markers of the README.

    Raises:
        ScenarioError: The markers, the command or its single ``--index-url`` are missing, or the command
            adds another index or a local folder (which would let public names shadow internal ones).
    """
    start, end = readme_text.find(START_MARKER), readme_text.find(END_MARKER)
    if start < 0 or end < start:
        raise ScenarioError(f"README has no {START_MARKER} ... {END_MARKER} section")
    section = readme_text[start + len(START_MARKER) : end].replace("\\\n", " ")
    commands = [line.strip() for line in section.splitlines() if line.strip().startswith("pip install")]
    if len(commands) != 1:
        raise ScenarioError(f"expected one `pip install` line between the markers, found {commands}")
    args = shlex.split(commands[0], comments=True)[2:]
    index_urls: list[str] = []
    options: list[str] = []
    requirements: list[str] = []
    it = iter(args)
    for arg in it:
        option, _, value = arg.partition("=")
        if option in _UNSAFE_PIP_OPTIONS:
            raise ScenarioError(f"the consumer command must use one index only; it has {option}")
        if option in ("--index-url", "-i"):
            index_urls.append(value or next(it, ""))
        elif arg.startswith("-"):
            options.append(arg)
        else:
            requirements.append(arg)
    if len(index_urls) != 1 or not index_urls[0]:
        raise ScenarioError(f"the consumer command needs exactly one --index-url, found {index_urls}")
    if not requirements:
        raise ScenarioError("the consumer command installs nothing")
    return ConsumerCommand(index_urls[0], tuple(options), tuple(requirements))


def download_args(command: ConsumerCommand, wheels: dict[str, Wheel]) -> list[str]:
    """``pip download`` arguments that fetch the third-party closure of the consumer's install.

    Every internal project is given as its wheel file (with the consumer's extras), so pip takes them
    from disk and never looks for an ``internal-*`` on a public index while collecting the rest.
    """
    extras: dict[str, tuple[str, ...]] = {}
    for req in command.requirements:
        name = requirement_name(req)
        if name not in wheels:
            raise ScenarioError(f"the consumer command installs {name}, which no library builds")
        extras[name] = _requirement_extras(req)
    args = []
    for name, wheel in sorted(wheels.items()):
        chosen = extras.get(name, ())
        args.append(f"{wheel.path}[{','.join(chosen)}]" if chosen else str(wheel.path))
    return args


# --------------------------------------------------------------------------- decoys


def decoy_versions(real_version: str) -> tuple[str, str]:
    """Two decoy versions that beat `real_version`: one a ``~=`` requirement admits, and a far higher one.

    PyPI's unrelated ``internal-rdbms`` sits at 0.1.x, inside ``~=0.1.0``: the first decoy plays it.
    """
    parts = real_version.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        raise ScenarioError(f"cannot derive decoy versions from {real_version!r}")
    return f"{parts[0]}.{parts[1]}.999", "9.9.0"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_decoy_wheel(out_dir: Path, name: str, version: str) -> Path:
    """Write a harmless wheel that impersonates project `name` at `version`; return its path.

    Its package sets ``COMMONS_DECOY`` and it ships a ``commons_decoy_<module>.py`` marker; it has no
    dependencies and runs no code at install time.
    """
    module = canonicalize_name(name).replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    note = f'"""A decoy standing in for a stranger\'s public {name}: the dependency-confusion test."""\n'
    files = {
        f"{module}/__init__.py": f'{note}\n{DECOY_ATTRIBUTE} = "{name} {version}"\n',
        f"{DECOY_MARKER_PREFIX}{module}.py": note,
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            "Summary: Decoy for the dependency-confusion test; never install.\n"
        ),
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: commons-decoy\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = [_record_line(path, text.encode()) for path, text in files.items()]
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for member, text in files.items():
            zf.writestr(member, text)
    return path


# --------------------------------------------------------------------------- the checks


@dataclass(frozen=True)
class Check:
    """One named check of the scenario and its outcome."""

    name: str
    ok: bool
    detail: str = ""

    def line(self) -> str:
        """``PASS name`` or ``FAIL name: detail``."""
        return f"PASS {self.name}" if self.ok else f"FAIL {self.name}: {self.detail}"


def _report_sources(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """(version, download URL) of every distribution a ``pip install --report`` installed, by name."""
    out: dict[str, tuple[str, str]] = {}
    for item in report.get("install", []):
        meta = item.get("metadata", {})
        out[canonicalize_name(meta.get("name", "?"))] = (
            meta.get("version", "?"),
            item["download_info"]["url"],
        )
    return out


def _is_decoy(name: str, version: str, versions: dict[str, str]) -> bool:
    return name in versions and version != versions[name]


def check_install(
    *,
    report: dict[str, Any],
    pip_list: Sequence[dict[str, str]],
    probe: dict[str, Any],
    versions: dict[str, str],
    internal_url: str,
    mirror_url: str,
) -> list[Check]:
    """Judge a consumer install: where every distribution came from, what is installed, what imports.

    Args:
        report: The JSON of ``pip install --report`` for the consumer command.
        pip_list: ``pip list --format=json`` of the venv afterwards.
        probe: The output of ``probe`` run with the venv's interpreter.
        versions: The version of each ``internal-*`` library as its BUILD file declares it.
        internal_url: Where the internal index serves its own files (``.../root/internal/``).
        mirror_url: Where the internal index serves files it mirrors (``.../root/public/``).
    """
    checks: list[Check] = []
    sources = _report_sources(report)

    missing = sorted(versions.keys() - sources.keys())
    checks.append(Check("the consumer command installed every internal library", not missing, f"{missing}"))
    for name, expected in sorted(versions.items()):
        got, url = sources.get(name, ("not installed", ""))
        checks.append(Check(f"{name} is {expected}, the version in its BUILD", got == expected, got))
        from_internal = url.startswith(internal_url)
        checks.append(Check(f"{name} came from the internal index", from_internal, url or "not installed"))

    third_party = {n: s for n, s in sources.items() if n not in versions}
    strays = sorted(
        f"{n} from {url}" for n, (_, url) in third_party.items() if not url.startswith(mirror_url)
    )
    checks.append(
        Check(
            f"{len(third_party)} third-party distributions came through the mirror", not strays, f"{strays}"
        )
    )
    if not third_party:
        checks.append(Check("third-party distributions were installed at all", False, "none in the report"))

    listed = {canonicalize_name(d["name"]): d["version"] for d in pip_list}
    decoys_listed = sorted(f"{n} {v}" for n, v in listed.items() if _is_decoy(n, v, versions))
    checks.append(Check("pip list shows no decoy", not decoys_listed, f"{decoys_listed}"))
    decoys_reported = sorted(f"{n} {v}" for n, (v, _) in sources.items() if _is_decoy(n, v, versions))
    checks.append(Check("pip installed no decoy", not decoys_reported, f"{decoys_reported}"))
    markers = probe.get("decoy_markers", [])
    checks.append(Check("no decoy marker file in site-packages", not markers, f"{markers}"))

    modules: dict[str, dict[str, Any]] = probe.get("modules", {})
    for name in sorted(versions):
        module = name.replace("-", "_")
        result = modules.get(module, {"error": "not probed"})
        ok = "file" in result and not result.get("decoy") and bool(result.get("in_venv"))
        checks.append(Check(f"import {module} works from the venv", ok, json.dumps(result)))
    return checks


def check_control(report: dict[str, Any], versions: dict[str, str], public_url: str) -> list[Check]:
    """The control: the unsafe command (public index as extra) resolves to the decoys.

    Without this the main checks could pass only because the decoys were never eligible.
    """
    sources = _report_sources(report)
    decoys = {n: s for n, s in sources.items() if _is_decoy(n, s[0], versions)}
    picked = ", ".join(f"{n} {v}" for n, (v, _) in sorted(decoys.items()))
    wrong_source = sorted(n for n, (_, url) in decoys.items() if not url.startswith(public_url))
    return [
        Check(
            f"control: with --extra-index-url <public> pip picks the decoys ({picked or 'none'})",
            bool(decoys) and decoys.keys() == sources.keys() and not wrong_source,
            f"resolved {sources}",
        )
    ]


def check_upload_refused(status: int) -> list[Check]:
    """The internal index refused an upload with a wrong password (HTTP `status`): 401 or 403."""
    ok = status in (401, 403)
    return [Check("the internal index refuses an upload with a wrong password", ok, f"HTTP {status}")]


# --------------------------------------------------------------------------- the venv probe


def probe(modules: Iterable[str]) -> dict[str, Any]:
    """Import each module in this interpreter; report where it lives and whether it is a decoy."""
    purelib = Path(sysconfig.get_paths()["purelib"]).resolve()
    venv = Path(sys.prefix).resolve()
    out: dict[str, Any] = {"modules": {}, "decoy_markers": []}
    out["decoy_markers"] = sorted(p.name for p in purelib.glob(f"{DECOY_MARKER_PREFIX}*"))
    for name in modules:
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # - any import failure is the finding
            out["modules"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        file = Path(module.__file__ or "").resolve()
        out["modules"][name] = {
            "file": str(file),
            "in_venv": file.is_relative_to(venv),
            "decoy": getattr(module, DECOY_ATTRIBUTE, None),
        }
    return out


# --------------------------------------------------------------------------- command line


def _cmd_decoys(ns: argparse.Namespace) -> int:
    versions = library_versions(ns.libs)
    for name in ns.names:
        if name not in versions:
            raise ScenarioError(f"{name} is not one of the libraries ({sorted(versions)})")
        for version in decoy_versions(versions[name]):
            print(build_decoy_wheel(ns.out, name, version))
    return 0


def _cmd_download_args(ns: argparse.Namespace) -> int:
    command = consumer_command(ns.readme.read_text())
    wheels = built_wheels(ns.dist, library_versions(ns.libs))
    _print_nul(download_args(command, wheels))
    return 0


def _cmd_consumer_args(ns: argparse.Namespace) -> int:
    _print_nul(consumer_command(ns.readme.read_text()).pip_args(ns.index_url))
    return 0


def _cmd_control_args(ns: argparse.Namespace) -> int:
    """The decoyed names as the built wheels require them (``internal-rdbms~=0.1.0``), markers dropped."""
    wheels = built_wheels(ns.dist, library_versions(ns.libs))
    wanted = set(ns.names)
    specs: dict[str, str] = {}
    for wheel in wheels.values():
        for req in wheel.requires:
            name = requirement_name(req)
            if name in wanted:
                specs[name] = re.sub(r"[\s()]", "", req.partition(";")[0])
    missing = sorted(wanted - specs.keys())
    if missing:
        raise ScenarioError(f"no built wheel requires {missing}")
    _print_nul([specs[n] for n in sorted(specs)])
    return 0


def _cmd_probe(ns: argparse.Namespace) -> int:
    print(json.dumps(probe(ns.modules)))
    return 0


def _cmd_check(ns: argparse.Namespace) -> int:
    versions = library_versions(ns.libs)
    checks = check_upload_refused(ns.bad_upload_status)
    checks += check_control(json.loads(ns.control.read_text()), versions, ns.public_url)
    checks += check_install(
        report=json.loads(ns.report.read_text()),
        pip_list=json.loads(ns.pip_list.read_text()),
        probe=json.loads(ns.probe.read_text()),
        versions=versions,
        internal_url=ns.internal_url,
        mirror_url=ns.mirror_url,
    )
    for check in checks:
        print(check.line())
    failed = sum(not c.ok for c in checks)
    print(f"{len(checks) - failed} checks passed, {failed} failed")
    return 1 if failed else 0


def _print_nul(args: Iterable[str]) -> None:
    """Print arguments NUL-separated, for ``mapfile -d ''`` in bash."""
    sys.stdout.write("".join(f"{a}\0" for a in args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("decoys", help="write decoy wheels for the named libraries")
    p.add_argument("--libs", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("names", nargs="+")
    p.set_defaults(func=_cmd_decoys)

    p = sub.add_parser("download-args", help="pip download args for the consumer's third-party closure")
    for flag in ("--readme", "--libs", "--dist"):
        p.add_argument(flag, type=Path, required=True)
    p.set_defaults(func=_cmd_download_args)

    p = sub.add_parser("consumer-args", help="the README's pip arguments with another index URL")
    p.add_argument("--readme", type=Path, required=True)
    p.add_argument("--index-url", required=True)
    p.set_defaults(func=_cmd_consumer_args)

    p = sub.add_parser("control-args", help="the decoyed requirements as the wheels declare them")
    p.add_argument("--libs", type=Path, required=True)
    p.add_argument("--dist", type=Path, required=True)
    p.add_argument("names", nargs="+")
    p.set_defaults(func=_cmd_control_args)

    p = sub.add_parser("probe", help="import modules in this interpreter (run with the venv's python)")
    p.add_argument("modules", nargs="+")
    p.set_defaults(func=_cmd_probe)

    p = sub.add_parser("check", help="print PASS/FAIL per check; exit 1 on any failure")
    for flag in ("--libs", "--report", "--pip-list", "--probe", "--control"):
        p.add_argument(flag, type=Path, required=True)
    for flag in ("--internal-url", "--mirror-url", "--public-url"):
        p.add_argument(flag, required=True)
    p.add_argument(
        "--bad-upload-status", type=int, required=True, help="HTTP status of a wrong-password upload"
    )
    p.set_defaults(func=_cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one step of the scenario; see ``--help``."""
    ns = _parser().parse_args(argv)
    try:
        code: int = ns.func(ns)
    except ScenarioError as exc:
        print(f"dependency_confusion.py {ns.command}: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
