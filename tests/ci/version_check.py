"""A library whose sources changed must publish a new version, with a changelog entry for it.

Run as `.ci/version_check.py --since <git ref> --index <simple index URL>` from the repository root (the
logic lives here, beside its tests, because Pants does not see the hidden `.ci/` folder).

For every library under libs/ it prints one line and fails (exit 1) when:
- files of the wheel (anything under libs/<lib>/ but tests/, benchmarks/ and CHANGELOG.md) changed since
  the ref and the library's version is already on the index (PEP 503 page `<index>/internal-<lib>/`);
- its sources changed, or its version changed, and CHANGELOG.md has no `## [<version>]` entry;
- pyproject.toml and BUILD disagree on the version.
Exit 2 means the check could not run (unknown ref, index not answering, unreadable version).

`--published` prints, instead, `internal-<lib> <version> published|absent` per library (the publish
scripts compare it before and after `pants publish`, which says "published" even for skipped uploads).
`--changed --since <ref>` prints the names of the libraries whose shipped files or version changed.
"""

from __future__ import annotations

import argparse
import base64
import html.parser
import re
import subprocess
import sys
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CheckError", "Library", "changed_libraries", "is_published", "main", "read_library"]

# Files under libs/<lib>/ that do not go into the wheel: a change to them needs no new version.
_NOT_SHIPPED = ("tests/", "benchmarks/", "CHANGELOG.md")
_BUILD_VERSION = re.compile(r"""(?<![\w.])version\s*=\s*["']([^"']+)["']""")


class CheckError(Exception):
    """The check cannot run: a bad ref, an unreadable version, an index that does not answer."""


@dataclass(frozen=True)
class Library:
    """One library's name and version as its files state them."""

    name: str
    version: str
    changelog_versions: frozenset[str]


def _git(root: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise CheckError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def _version_from(pyproject_text: str, where: str) -> str:
    try:
        version = tomllib.loads(pyproject_text)["project"]["version"]
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise CheckError(f"{where}: no [project] version ({exc})") from exc
    if not isinstance(version, str):
        raise CheckError(f"{where}: [project] version is not a string")
    return version


def _changelog_versions(text: str) -> frozenset[str]:
    """Versions with a `## [x.y.z]` (or `## x.y.z`) heading."""
    return frozenset(re.findall(r"^##\s+\[?([0-9][^\]\s]*)\]?", text, re.MULTILINE))


def read_library(root: Path, name: str) -> Library:
    """The version of libs/<name>, checking that pyproject.toml and BUILD agree.

    Raises:
        CheckError: a missing or unreadable version, or BUILD's `version=` differing from pyproject's.
    """
    lib_dir = root / "libs" / name
    version = _version_from((lib_dir / "pyproject.toml").read_text(), f"libs/{name}/pyproject.toml")
    build = lib_dir / "BUILD"
    found = _BUILD_VERSION.findall(build.read_text()) if build.exists() else []
    if found != [version]:
        raise CheckError(
            f"libs/{name}: pyproject.toml says version {version}, BUILD says {', '.join(found) or 'nothing'}"
        )
    changelog = lib_dir / "CHANGELOG.md"
    entries = _changelog_versions(changelog.read_text()) if changelog.exists() else frozenset()
    return Library(name, version, entries)


def _libraries(root: Path) -> list[str]:
    return sorted(p.parent.name for p in (root / "libs").glob("*/pyproject.toml"))


def changed_libraries(root: Path, since: str) -> set[str]:
    """Libraries with a shipped file changed since `since`: committed, uncommitted or untracked."""
    _git(root, "rev-parse", "--verify", "--quiet", f"{since}^{{commit}}")
    paths = _git(root, "diff", "--name-only", since, "--", "libs").splitlines()
    paths += _git(root, "ls-files", "--others", "--exclude-standard", "--", "libs").splitlines()
    changed = set()
    for path in paths:
        parts = path.split("/", 2)
        if len(parts) == 3 and not parts[2].startswith(_NOT_SHIPPED):
            changed.add(parts[1])
    return changed


def _version_at(root: Path, since: str, name: str) -> str | None:
    """The library's version at `since`, or None when it did not exist there."""
    proc = subprocess.run(
        ["git", "show", f"{since}:libs/{name}/pyproject.toml"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return None
    return _version_from(proc.stdout, f"libs/{name}/pyproject.toml at {since}")


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.names.append(urllib.parse.unquote(urllib.parse.urlsplit(href).path.rsplit("/", 1)[-1]))


def _open(url: str) -> bytes | None:
    """The body at `url`; None for a 404. Credentials in the URL become a Basic auth header."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    request = urllib.request.Request(parts._replace(netloc=netloc).geturl())
    if parts.username is not None:
        user_pass = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        request.add_header("Authorization", "Basic " + base64.b64encode(user_pass.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # (the URL is the user's)
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise CheckError(f"index page {request.full_url} answered HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise CheckError(f"index page {request.full_url} did not answer: {exc}") from exc


def is_published(index: str, project: str, version: str) -> bool:
    """Whether the PEP 503 page of `project` lists a file of `version` (a 404 means no file at all)."""
    body = _open(f"{index.rstrip('/')}/{project}/")
    if body is None:
        return False
    links = _Links()
    links.feed(body.decode("utf-8", "replace"))
    return (_normalize(project), version) in {_name_version(n) for n in links.names}


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _name_version(filename: str) -> tuple[str, str] | None:
    """Project and version of a wheel (`name-1.2.3-py3-none-any.whl`) or sdist (`name-1.2.3.tar.gz`)."""
    if filename.endswith(".whl"):
        parts = filename.split("-")
        return (_normalize(parts[0]), parts[1]) if len(parts) >= 5 else None
    for suffix in (".tar.gz", ".zip"):
        if filename.endswith(suffix) and "-" in filename:
            name, version = filename[: -len(suffix)].rsplit("-", 1)
            return _normalize(name), version
    return None


def _changed_or_bumped(root: Path, since: str) -> list[str]:
    """Libraries whose shipped files or version changed since `since`, sorted."""
    changed = changed_libraries(root, since)
    result = []
    for name in _libraries(root):
        try:
            bumped = _version_at(root, since, name) != read_library(root, name).version
        except CheckError:
            bumped = True  # reported as INVALID by the check
        if name in changed or bumped:
            result.append(name)
    return result


def _check(root: Path, since: str, index: str) -> tuple[list[str], bool]:
    changed = set(_changed_or_bumped(root, since))
    lines, ok = [], True
    for name in _libraries(root):
        try:
            lib = read_library(root, name)
        except CheckError as exc:
            lines.append(f"{name}: INVALID: {exc}")
            ok = False
            continue
        if name not in changed:
            lines.append(f"{name}: unchanged ({lib.version})")
            continue
        if is_published(index, f"internal-{name}", lib.version):
            lines.append(f"{name}: CHANGED BUT version {lib.version} is already published; bump it")
            ok = False
        elif lib.version not in lib.changelog_versions:
            lines.append(
                f"{name}: changed, bumped to {lib.version} BUT CHANGELOG.md has no entry for {lib.version}"
            )
            ok = False
        else:
            lines.append(f"{name}: changed, bumped to {lib.version}")
    return lines, ok


def main(argv: list[str] | None = None, root: Path | None = None) -> int:
    """Runs the check; returns 0 (every changed library has a new version and an entry), 1, or 2."""
    parser = argparse.ArgumentParser(prog="version_check.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--index", help="PEP 503 simple index URL, e.g. http://host/simple/ (not for --changed)"
    )
    parser.add_argument("--since", help="git ref to compare with (required unless --published)")
    parser.add_argument(
        "--changed", action="store_true", help="only print the libraries changed since --since, one a line"
    )
    parser.add_argument(
        "--published", action="store_true", help="print which current versions are on the index"
    )
    args = parser.parse_args(argv)
    root = root or Path.cwd()
    try:
        if not args.index and not args.changed:
            parser.error("--index is required")
        if args.published:
            for name in _libraries(root):
                lib = read_library(root, name)
                state = "published" if is_published(args.index, f"internal-{name}", lib.version) else "absent"
                print(f"internal-{name} {lib.version} {state}")
            return 0
        if not args.since:
            parser.error("--since is required")
        if args.changed:
            print("\n".join(_changed_or_bumped(root, args.since)))
            return 0
        lines, ok = _check(root, args.since, args.index)
    except CheckError as exc:
        print(f"version check: cannot check: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    print("version check: ok" if ok else "version check: FAILED", file=sys.stderr if not ok else sys.stdout)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
