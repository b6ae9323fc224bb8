"""Runs every library's tests with plain pytest on other Pythons, in throwaway venvs made by uv.

Two modes (``.ci/python_matrix.sh`` and ``.ci/floors.sh`` call this):

- ``latest``: today's newest versions the pyproject files allow.
- ``floors``: ``--resolution lowest-direct``, i.e. every declared lower bound (``>=``) exactly, so a floor
  that is not true fails here.

One job per (Python, library): ``uv venv``, ``uv pip install`` the library editable with its ``[test]``
extra and the sibling libraries it imports (from ``libs/``, never from an index), then ONE pytest process
for its unit and integration tests. Jobs run in parallel (``--jobs``). Each job prints its times; the run
ends with ``N passed, N failed, N skipped, N errors`` and fails on any failure, on an integration test that
was skipped, and on a job whose install or pytest failed before writing a report.

A job whose inputs are identical to a passing run's (interpreter, ``uv pip freeze``, the contents of every
library file it installs or tests, pytest.ini) is not run again: its counts come from that run
(``COMMONS_CI_FORCE_TESTS=1`` reruns everything). Its venv is still made, so a new release on the index
or a changed floor is always tested.

A run is ``MODE@PYTHON`` (every library, or those of ``--lib``) or ``MODE@PYTHON:LIB,LIB/unit,...`` (only
those libraries; ``/unit`` runs only that library's unit tests). A hung test fails after ``--test-timeout``
seconds with its stack (pytest-timeout), a whole pytest process after ``--job-timeout``.

Usage: ``python3 tests/ci/pymatrix.py latest@3.12 floors@3.11 floors@3.13 [--lib cache] [--jobs 2]``,
``python3 tests/ci/pymatrix.py floors@3.13 latest@3.12:base,cache,http/unit``.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parents[2]

# What each library's tests install besides the library itself with its [test] extra (editable,
# from libs/): the siblings it imports, the testing plugin, and test-only requirement files.
# Mirrors build-support/commons.py (_DEPENDS_ON) and the tests' BUILD files.
INSTALL: dict[str, tuple[str, ...]] = {
    "base": ("-e", "libs/testing", "-e", "libs/base[test]"),
    "cache": ("-e", "libs/testing", "-e", "libs/base", "-e", "libs/cache[test]"),
    "rdbms": ("-e", "libs/testing", "-e", "libs/base", "-e", "libs/rdbms[test]"),
    "aws": ("-e", "libs/testing", "-e", "libs/base", "-e", "libs/aws[test]"),
    "http": ("-e", "libs/testing", "-e", "libs/base", "-e", "libs/http[test]"),
    # The extensions' tests use every sibling; the aws one runs against the moto server ([test] of aws).
    "fastapi": (
        "-e", "libs/testing", "-e", "libs/base", "-e", "libs/rdbms", "-e", "libs/cache",
        "-e", "libs/http", "-e", "libs/aws[test]", "-e", "libs/fastapi[test]",
    ),
    "testing": (
        "-e", "libs/testing[docker,migrations]", "-r", "libs/testing/tests/requirements.txt",
    ),
}  # fmt: skip
# Test tooling every suite uses but no pyproject declares (as tox.ini's deps): pytest.mark.timeout.
TOOLING = ("pytest-timeout>=2.3",)
LIBRARIES = tuple(INSTALL)
# Longest first (measured), so that the pool does not end waiting on one long job.
SLOWEST_FIRST = ("rdbms", "aws", "fastapi", "testing", "http", "cache", "base")
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "commons-ci" / "pymatrix"


@dataclasses.dataclass
class Result:
    """What one (Python, library) job did."""

    mode: str
    python: str
    lib: str
    unit_only: bool = False
    cached: bool = False
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    problems: list[str] = dataclasses.field(default_factory=list)
    install_s: float = 0.0
    test_s: float = 0.0
    log: Path | None = None

    @property
    def failed(self) -> bool:
        """Whether anything failed, erred, was skipped where it must run, or did not run at all."""
        return bool(self.problems or self.counts.get("failed") or self.counts.get("errors"))


def find_python(version: str) -> str:
    """The interpreter for ``version`` ("3.13"): COMMONS_PYTHON_3_13, pyenv's newest 3.13.x, python3.13."""
    explicit = os.environ.get("COMMONS_PYTHON_" + version.replace(".", "_"))
    if explicit:
        return explicit
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates = glob.glob(os.path.join(pyenv_root, "versions", f"{version}.*", "bin", "python"))
    candidates = [c for c in candidates if Path(c).parts[-3].replace(".", "").isdigit()]
    if candidates:
        return max(candidates, key=lambda c: [int(p) for p in Path(c).parts[-3].split(".")])
    on_path = shutil.which(f"python{version}")
    if on_path:
        return on_path
    return version  # let uv find or fetch it


def summarize(report: Path) -> tuple[dict[str, int], list[str]]:
    """Counts of a JUnit report and the names of skipped integration tests."""
    counts = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
    skipped_integration: list[str] = []
    for case in ET.parse(report).getroot().iter("testcase"):
        where = f"{case.get('classname')}::{case.get('name')}"
        if case.find("failure") is not None:
            counts["failed"] += 1
        elif case.find("error") is not None:
            counts["errors"] += 1
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
            if "integration" in (case.get("classname") or "") + (case.get("file") or ""):
                skipped_integration.append(where)
        else:
            counts["passed"] += 1
    return counts, skipped_integration


class Runner:
    """Runs the jobs of one mode; prints one line per finished job."""

    def __init__(
        self, workdir: Path, uv: str, *, use_cache: bool, test_timeout: float, job_timeout: float
    ) -> None:
        self.use_cache = use_cache
        self.test_timeout = test_timeout
        self.job_timeout = job_timeout
        self.workdir = workdir
        self.uv = uv
        self._print_lock = threading.Lock()

    def say(self, line: str) -> None:
        with self._print_lock:
            print(line, flush=True)

    def run(self, mode: str, python: str, lib: str, unit_only: bool = False) -> Result:
        result = Result(mode, python, lib, unit_only)
        job = self.workdir / f"{mode}-{python}-{lib}{'-unit' if unit_only else ''}"
        job.mkdir(parents=True, exist_ok=True)
        venv = job / "venv"
        result.log = job / "log.txt"
        report = job / "junit.xml"
        env = {**os.environ, "VIRTUAL_ENV": str(venv), "COMMONS_REQUIRE_SERVICES": "1"}
        env.pop("PYTHONPATH", None)
        resolution = ["--resolution", "lowest-direct"] if mode == "floors" else []
        start = time.monotonic()
        with result.log.open("w") as log:

            def call(args: list[str], timeout: float | None = None) -> int:
                log.write("$ " + " ".join(args) + "\n")
                log.flush()
                try:
                    return subprocess.call(
                        args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout
                    )
                except subprocess.TimeoutExpired:
                    result.problems.append(f"pytest did not finish within {timeout:g} s (killed)")
                    return -9

            ok = call([self.uv, "venv", "-q", "--python", find_python(python), str(venv)]) == 0
            ok = ok and call([self.uv, "pip", "install", "-q", *resolution, *INSTALL[lib], *TOOLING]) == 0
            result.install_s = time.monotonic() - start
            if not ok:
                result.problems.append("uv could not create the venv or install the requirements")
                return result
            key = self._key(venv, lib, env, log)
            key += "-unit" if unit_only else ""
            log.write(f"inputs: {key}\n")
            log.flush()
            cached = CACHE_DIR / f"{key}.json"
            if self.use_cache and cached.exists():
                result.cached = True
                result.counts = json.loads(cached.read_text())
                return result
            start = time.monotonic()
            tests = [f"libs/{lib}/tests/unit"] + ([] if unit_only else [f"libs/{lib}/tests/integration"])
            code = call(
                [
                    str(venv / "bin" / "python"), "-m", "pytest", "-c", "pytest.ini",
                    "--rootdir", f"libs/{lib}", "-p", "no:cacheprovider", "-q", "-rfEs",
                    f"--junitxml={report}", "-o", "junit_family=xunit2", f"--timeout={self.test_timeout:g}",
                    *[t for t in tests if (ROOT / t).is_dir()],
                ],
                timeout=self.job_timeout,
            )  # fmt: skip
            result.test_s = time.monotonic() - start
        if report.exists():
            result.counts, skipped = summarize(report)
            result.problems += [f"integration test skipped: {name}" for name in skipped]
        if code != 0 and not (result.counts.get("failed") or result.counts.get("errors") or result.problems):
            result.problems.append(f"pytest exited with {code}")
        if not result.failed:
            CACHE_DIR.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps(result.counts))
        return result

    def _key(self, venv: Path, lib: str, env: dict[str, str], log: TextIO) -> str:
        """A hash of everything the job's outcome depends on (the freeze is also written to the log)."""
        freeze = subprocess.run(
            [self.uv, "pip", "freeze"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
        ).stdout
        version = subprocess.run(
            [str(venv / "bin" / "python"), "-VV"], capture_output=True, text=True, check=True
        ).stdout
        digest = hashlib.sha256(f"{lib}\n{version}\n{freeze}".encode())
        log.write(version + freeze)  # the job's own handle: pytest's output follows, never overwrites it
        folders = {"testing", lib} | {
            arg.split("[")[0].removeprefix("libs/") for arg in INSTALL[lib] if "/" in arg
        }
        files = sorted(
            path
            for folder in folders
            for path in (ROOT / "libs" / folder.split("/")[0]).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
        )
        for path in [ROOT / "pytest.ini", *files]:
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
        for name in sorted(env):
            if name.startswith("COMMONS_"):
                digest.update(f"{name}={env[name]}".encode())
        return digest.hexdigest()[:32]

    def report(self, result: Result) -> None:
        counts = ", ".join(f"{n} {k}" for k, n in result.counts.items()) or "no report"
        bad = result.failed
        tests = (
            "unchanged since a passing run, not rerun" if result.cached else f"tests {result.test_s:.0f} s"
        )
        self.say(
            f"[{result.mode} {result.python} {result.lib}{' unit' if result.unit_only else ''}]"
            f" {'FAILED' if bad else 'ok'}: {counts}"
            f" (install {result.install_s:.0f} s, {tests})"
        )
        if bad and result.log is not None:
            for problem in result.problems:
                self.say(f"  {problem}")
            tail = result.log.read_text(errors="replace").splitlines()[-40:]
            self.say("\n".join(f"  | {line}" for line in tail))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "runs", nargs="+", metavar="MODE@PYTHON[:LIB,...]", help="latest@3.13, floors@3.12:base,http/unit"
    )
    parser.add_argument("--lib", action="append", choices=LIBRARIES, help="default: every library")
    parser.add_argument(
        "--jobs", type=int, default=int(os.environ.get("COMMONS_MATRIX_JOBS") or os.cpu_count() or 2)
    )
    parser.add_argument("--workdir", type=Path, help="default: a temporary directory, removed at the end")
    parser.add_argument("--uv", default=shutil.which("uv") or "uv")
    parser.add_argument("--test-timeout", type=float, default=300, help="seconds per test (default 300)")
    parser.add_argument("--job-timeout", type=float, default=1500, help="seconds per pytest process")
    args = parser.parse_args(argv)
    libs = args.lib or list(LIBRARIES)
    runs: list[tuple[str, str]] = []
    jobs: list[tuple[str, str, str, bool]] = []
    for spec in args.runs:
        run, _, only = spec.partition(":")
        mode, _, python = run.partition("@")
        if mode not in ("latest", "floors") or not python:
            parser.error(f"expected latest@X.Y or floors@X.Y[:LIB,LIB/unit], got {spec}")
        runs.append((mode, python))
        for item in only.split(",") if only else libs:
            lib, _, scope = item.partition("/")
            if lib not in LIBRARIES or scope not in ("", "unit"):
                parser.error(f"{spec}: {item!r} is not a library ({', '.join(LIBRARIES)}) or LIB/unit")
            if lib in libs:
                jobs.append((mode, python, lib, scope == "unit"))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="commons-pymatrix-"))
    runner = Runner(
        workdir,
        args.uv,
        use_cache=os.environ.get("COMMONS_CI_FORCE_TESTS") != "1",
        test_timeout=args.test_timeout,
        job_timeout=args.job_timeout,
    )
    start = time.monotonic()
    jobs.sort(key=lambda job: (job[3], SLOWEST_FIRST.index(job[2])))
    results: list[Result] = []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for future in as_completed([pool.submit(runner.run, *job) for job in jobs]):
            result = future.result()
            runner.report(result)
            results.append(result)
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    for mode, python in runs:
        mine = [r for r in results if (r.mode, r.python) == (mode, python)]
        print(
            f"{mode} on Python {python}: install {sum(r.install_s for r in mine):.0f} s, "
            f"tests {sum(r.test_s for r in mine):.0f} s (summed over libraries)"
        )
    total = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
    for result in results:
        for key, n in result.counts.items():
            total[key] += n
    failed_jobs = [f"{r.mode}@{r.python}/{r.lib}" for r in results if r.failed]
    print(f"{len(results)} jobs in {time.monotonic() - start:.0f} s on {args.jobs} workers")
    if failed_jobs:
        print(f"FAILED: {' '.join(failed_jobs)}")
    print(", ".join(f"{n} {k}" for k, n in total.items()))
    return 1 if failed_jobs or not total["passed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
