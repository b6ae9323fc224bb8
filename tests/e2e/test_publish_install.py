"""The polyrepo promise end to end: the built wheels publish to an index and install from it alone.

Pants puts the wheels of `internal-base` and `internal-cache` into the sandbox
(`runtime_package_dependencies`); outside Pants, point ``COMMONS_WHEEL_DIR`` at a folder of wheels.
The test starts a real pypiserver with upload authentication, uploads the wheels with twine (as
``./pants publish`` does), and installs ``internal-cache`` into a fresh venv from that index only, so
that ``internal-base`` can only arrive through the dependency the wheel declares.
"""

from __future__ import annotations

import email.parser
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

WHEEL_DIR_ENV = "COMMONS_WHEEL_DIR"
BASE = "internal-base"
CACHE = "internal-cache"
USER = "publisher"
PASSWORD = "s3cret-for-tests"  # a throwaway credential for a throwaway local index

SERVER_START_TIMEOUT = 30.0
UPLOAD_TIMEOUT = 120.0
VENV_TIMEOUT = 180.0
INSTALL_TIMEOUT = 300.0
PROBE_TIMEOUT = 60.0

_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA_MARKER = re.compile(r"\bextra\s*==")

# Directories that never hold the packages under test (and can be large).
_SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages"})


@dataclass(frozen=True)
class Wheel:
    """A built wheel and what its metadata declares."""

    path: Path
    name: str
    version: str
    requires: tuple[str, ...]

    def runtime_requirements(self) -> list[str]:
        """The Requires-Dist lines of a plain install (those not tied to an extra)."""
        return [line for line in self.requires if not _EXTRA_MARKER.search(line.partition(";")[2])]


@dataclass(frozen=True)
class PackageIndex:
    """A running local package index."""

    url: str
    simple_url: str
    package_dir: Path


# --------------------------------------------------------------------------- helpers


def canonicalize_name(name: str) -> str:
    """The normalized project name (PEP 503): ``Internal_Base`` -> ``internal-base``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(line: str) -> str:
    """The normalized project name of a requirement line such as ``redis[hiredis]>=5.0; marker``."""
    match = _NAME.match(line)
    assert match is not None, f"not a requirement: {line!r}"
    return canonicalize_name(match.group(1))


def _no_proxy_env(env: Mapping[str, str]) -> dict[str, str]:
    """Return `env` where loopback traffic bypasses any configured proxy."""
    out = dict(env)
    loopback = "127.0.0.1,localhost"
    for key in ("NO_PROXY", "no_proxy"):
        out[key] = f"{out[key]},{loopback}" if out.get(key) else loopback
    return out


def _tool_env() -> dict[str, str]:
    """Environment for running tools (pypiserver, twine) with this interpreter and its sys.path.

    Inside a Pants pex the third-party packages sit on ``sys.path`` only through the pex bootstrap, so a
    child ``sys.executable -m tool`` needs them handed over through ``PYTHONPATH``.
    """
    env = _no_proxy_env(os.environ)
    paths = [os.path.abspath(p) for p in sys.path if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def _clean_env() -> dict[str, str]:
    """Environment for a fresh venv's interpreter: nothing leaks in from this test process."""
    env = {
        k: v
        for k, v in os.environ.items()
        # PIP_CONFIG_FILE: build tools (Pants) isolate their own pip; the fresh venv uses the machine's.
        if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__", "PIP_CONFIG_FILE"}
        and not k.startswith("PEX")
    }
    env["PYTHONNOUSERSITE"] = "1"
    return _no_proxy_env(env)


def _run(
    args: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command with a hard timeout; fail the test with its output when it does not succeed."""
    cmd = [os.fspath(a) for a in args]
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"timed out after {timeout}s: {' '.join(cmd)}\n{exc.stdout!r}\n{exc.stderr!r}")
    if proc.returncode != 0:
        pytest.fail(
            f"exit {proc.returncode}: {' '.join(cmd)}\n--- stdout\n{proc.stdout[-4000:]}\n"
            f"--- stderr\n{proc.stderr[-4000:]}"
        )
    return proc


def _search_roots() -> list[Path]:
    """Where to look for wheels: ``$COMMONS_WHEEL_DIR`` when set, else the working directory."""
    explicit = os.environ.get(WHEEL_DIR_ENV)
    if explicit:
        return [Path(explicit)]
    return [Path.cwd()]


def _iter_wheel_files(root: Path) -> Iterator[Path]:
    """Every ``internal_*.whl`` below `root`, skipping hidden and environment directories."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS]
        for filename in filenames:
            if filename.startswith("internal_") and filename.endswith(".whl"):
                yield Path(dirpath) / filename


def _read_wheel(path: Path) -> Wheel:
    """Read name, version and Requires-Dist from a wheel's METADATA."""
    with zipfile.ZipFile(path) as zf:
        meta_names = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        assert len(meta_names) == 1, f"{path.name}: expected one METADATA, found {meta_names}"
        raw = zf.read(meta_names[0]).decode("utf-8")
    message = email.parser.Parser().parsestr(raw, headersonly=True)
    name, version = message["Name"], message["Version"]
    assert name, f"{path.name}: METADATA lacks Name"
    assert version, f"{path.name}: METADATA lacks Version"
    file_name, file_version = path.name.split("-")[:2]
    assert canonicalize_name(name) == canonicalize_name(file_name), f"{path.name}: METADATA names {name}"
    assert file_version == version, f"{path.name}: METADATA says version {version}"
    return Wheel(
        path=path,
        name=canonicalize_name(name),
        version=version,
        requires=tuple(message.get_all("Requires-Dist") or ()),
    )


def find_wheels() -> dict[str, Wheel]:
    """The internal wheels available to this test, by canonical project name."""
    found: dict[str, Wheel] = {}
    roots = _search_roots()
    for root in roots:
        for path in sorted(_iter_wheel_files(root)):
            wheel = _read_wheel(path)
            previous = found.get(wheel.name)
            if previous is not None and previous.version != wheel.version:
                pytest.fail(
                    f"two versions of {wheel.name} found: {previous.path} and {wheel.path}; "
                    f"leave one (or set {WHEEL_DIR_ENV})"
                )
            found.setdefault(wheel.name, wheel)
    missing = sorted({BASE, CACHE} - found.keys())
    if missing:
        where = ", ".join(str(r) for r in roots)
        pytest.fail(
            f"no built wheel for {missing} under {where}. Under Pants the test target needs "
            'runtime_package_dependencies=["libs/base:dist", "libs/cache:dist"]; outside Pants build them '
            f"(pip wheel --no-deps libs/base libs/cache -w DIR) and set {WHEEL_DIR_ENV}=DIR."
        )
    return found


def _free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """GET `url` bypassing proxies; return status and body."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as resp:
            status: int = resp.status
            return status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def _write_htpasswd(path: Path, user: str, password: str) -> None:
    """Write an Apache htpasswd file with one user."""
    # passlib imports the `crypt` module, deprecated since Python 3.11; the suite turns warnings into errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from passlib.apache import HtpasswdFile

    ht = HtpasswdFile(str(path), new=True, default_scheme="sha256_crypt")
    ht.set_password(user, password)
    ht.save()


def _base_python() -> str:
    """An interpreter to create a venv from: the base interpreter, not a venv's or a pex's wrapper."""
    candidates = [getattr(sys, "_base_executable", None), shutil.which("python3.11"), sys.executable]
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail("no Python interpreter found to create a venv from")


def _venv_python(venv_dir: Path) -> Path:
    return venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def wheels() -> dict[str, Wheel]:
    """The built internal wheels found in the sandbox (or ``$COMMONS_WHEEL_DIR``)."""
    return find_wheels()


@pytest.fixture(scope="module")
def package_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PackageIndex]:
    """A pypiserver on a free loopback port that requires authentication to upload."""
    root = tmp_path_factory.mktemp("index")
    package_dir = root / "packages"
    package_dir.mkdir()
    htpasswd = root / "htpasswd"
    _write_htpasswd(htpasswd, USER, PASSWORD)
    log_path = root / "server.log"
    port = _free_port()
    cmd = [
        sys.executable, "-m", "pypiserver", "run",
        "-p", str(port), "-i", "127.0.0.1",
        "--disable-fallback",
        "-P", str(htpasswd), "-a", "update",
        str(package_dir),
    ]  # fmt: skip
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=_tool_env()
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"pypiserver exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
            try:
                status, _ = _http_get(f"{url}/health", timeout=1.0)
            except OSError:
                status = 0
            if status == 200:
                break
            if time.monotonic() > deadline:
                log_tail = log_path.read_text()[-4000:]
                pytest.fail(f"pypiserver not ready in {SERVER_START_TIMEOUT}s:\n{log_tail}")
            time.sleep(0.1)
        yield PackageIndex(url=url, simple_url=f"{url}/simple/", package_dir=package_dir)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def published(wheels: dict[str, Wheel], package_index: PackageIndex) -> PackageIndex:
    """The index after ``twine upload`` of both wheels, as ``./pants publish`` does it."""
    files = [wheels[BASE].path, wheels[CACHE].path]
    _run(
        [
            sys.executable, "-m", "twine", "upload",
            "--repository-url", package_index.url,
            "-u", USER, "-p", PASSWORD,
            "--non-interactive", "--disable-progress-bar",
            *files,
        ],
        timeout=UPLOAD_TIMEOUT,
        env=_tool_env(),
    )  # fmt: skip
    return package_index


@dataclass(frozen=True)
class Installed:
    """The outcome of installing internal-cache into a fresh venv from the local index."""

    python: Path
    report: dict[str, Any]
    probe: dict[str, Any]


_PROBE = """
import importlib, importlib.metadata as md, json
out = {"dists": {}, "modules": {}, "errors": []}
for dist in ("internal-base", "internal-cache"):
    try:
        files = md.files(dist) or []
        out["dists"][dist] = {
            "version": md.version(dist),
            "requires": md.requires(dist) or [],
            "py_typed": sorted(str(f) for f in files if f.name == "py.typed"),
        }
    except md.PackageNotFoundError:
        out["errors"].append(dist + " is not installed")
for name in ("internal_base", "internal_cache"):
    try:
        out["modules"][name] = importlib.import_module(name).__file__
    except ImportError as exc:
        out["errors"].append(repr(exc))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def installed(
    wheels: dict[str, Wheel], published: PackageIndex, tmp_path_factory: pytest.TempPathFactory
) -> Installed:
    """A fresh venv with the third-party requirements from the normal indexes and the internals from ours."""
    root = tmp_path_factory.mktemp("venv")
    venv_dir = root / "venv"
    env = _clean_env()
    _run([_base_python(), "-m", "venv", venv_dir], timeout=VENV_TIMEOUT, env=env)
    python = _venv_python(venv_dir)
    assert python.exists(), f"venv has no interpreter at {python}"

    third_party = sorted(
        {
            req
            for name in (BASE, CACHE)
            for req in wheels[name].runtime_requirements()
            if not requirement_name(req).startswith("internal-")
        }
    )
    if third_party:
        _run([python, "-m", "pip", "install", "--no-input", *third_party], timeout=INSTALL_TIMEOUT, env=env)

    # Before the step under test the venv has neither internal distribution.
    find_specs = (
        "import importlib.util as u; print(u.find_spec('internal_base'), u.find_spec('internal_cache'))"
    )
    absent = _run(
        [python, "-c", find_specs],
        timeout=PROBE_TIMEOUT,
        env=env,
    )
    assert absent.stdout.split() == ["None", "None"], absent.stdout

    # The step under test: no config files, no PIP_* variables, one index — ours.
    isolated_env = {k: v for k, v in env.items() if not k.startswith("PIP_")}
    isolated_env["PIP_CONFIG_FILE"] = os.devnull
    report_path = root / "install-report.json"
    _run(
        [
            python, "-m", "pip", "--isolated", "install", "--no-input", "--no-cache-dir",
            "--index-url", published.simple_url,
            "--report", report_path,
            CACHE,
        ],
        timeout=INSTALL_TIMEOUT,
        env=isolated_env,
    )  # fmt: skip
    report = json.loads(report_path.read_text())
    probe = _run([python, "-c", _PROBE], timeout=PROBE_TIMEOUT, env=env, cwd=root)
    return Installed(python=python, report=report, probe=json.loads(probe.stdout))


# --------------------------------------------------------------------------- tests


def test_cache_wheel_declares_internal_base(wheels: dict[str, Wheel]) -> None:
    """The internal-cache wheel declares a compatible internal-base requirement in its metadata."""
    reqs = {requirement_name(r): r for r in wheels[CACHE].runtime_requirements()}
    assert BASE in reqs, (
        f"{wheels[CACHE].path.name} does not declare Requires-Dist: {BASE} "
        f"(got {list(wheels[CACHE].requires)}); "
        "pip-built wheels lack it, Pants-built ones add it from the imports"
    )
    # A version range (Pants writes ``~=X.Y.Z``); pip proves it admits the built version when installing.
    assert re.search(r"(~=|==|>=)\s*\d", reqs[BASE]), f"{reqs[BASE]!r} does not constrain the version"


def test_upload_requires_credentials(wheels: dict[str, Wheel], package_index: PackageIndex) -> None:
    """The index rejects an upload with a wrong password."""
    proc = subprocess.run(
        [
            sys.executable, "-m", "twine", "upload",
            "--repository-url", package_index.url,
            "-u", USER, "-p", "wrong-password",
            "--non-interactive", "--disable-progress-bar",
            os.fspath(wheels[BASE].path),
        ],
        capture_output=True,
        text=True,
        timeout=UPLOAD_TIMEOUT,
        env=_tool_env(),
        stdin=subprocess.DEVNULL,
        check=False,
    )  # fmt: skip
    assert proc.returncode != 0, proc.stdout
    assert "403" in proc.stdout + proc.stderr or "401" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_index_lists_uploaded_wheels(wheels: dict[str, Wheel], published: PackageIndex) -> None:
    """After the upload the simple index serves both wheels under their project names."""
    for name in (BASE, CACHE):
        status, body = _http_get(f"{published.simple_url}{name}/")
        assert status == 200, f"{name}: HTTP {status}"
        assert wheels[name].path.name in body, body
    assert sorted(p.name for p in published.package_dir.iterdir()) == sorted(
        wheels[n].path.name for n in (BASE, CACHE)
    )


def test_internals_come_from_local_index(installed: Installed, published: PackageIndex) -> None:
    """pip resolved internal-cache and, through its metadata, internal-base from the local index only."""
    items = installed.report["install"]
    sources = {canonicalize_name(item["metadata"]["name"]): item["download_info"]["url"] for item in items}
    assert {BASE, CACHE} <= sources.keys(), sources
    for name, url in sources.items():
        assert url.startswith(published.url + "/"), f"{name} came from {url}"


def test_installed_versions_match_wheels(installed: Installed, wheels: dict[str, Wheel]) -> None:
    """The venv holds internal-base and internal-cache at the versions that were built."""
    dists = installed.probe["dists"]
    assert sorted(dists) == [BASE, CACHE], installed.probe["errors"]
    for name in (BASE, CACHE):
        assert dists[name]["version"] == wheels[name].version
    cache_requires = dists[CACHE]["requires"]
    assert any(requirement_name(r) == BASE for r in cache_requires), cache_requires


def test_installed_packages_import_and_are_typed(installed: Installed) -> None:
    """Both packages import from the venv's site-packages and ship their py.typed marker."""
    modules = installed.probe["modules"]
    assert sorted(modules) == ["internal_base", "internal_cache"], installed.probe["errors"]
    venv_root = installed.python.parent.parent
    for module in ("internal_base", "internal_cache"):
        assert Path(modules[module]).is_relative_to(venv_root), modules[module]
    for name, module in ((BASE, "internal_base"), (CACHE, "internal_cache")):
        py_typed = installed.probe["dists"][name]["py_typed"]
        assert py_typed == [f"{module}/py.typed"], py_typed
