"""``internal_base.telemetry.instrument()`` / ``uninstrument()`` import each library's telemetry by name.

Fake commons libraries are real packages written to ``tmp_path``. Each scenario runs in a fresh
``python -S`` whose path holds the fakes, internal_base and the third-party packages but none of
the real commons libraries: "not installed" is real there, and nothing is patched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import internal_base
from internal_base.telemetry import COMMONS_LIBRARIES, instrument, uninstrument

_FAKE_TELEMETRY = """
import os

def _note(action):
    with open(os.environ["FAKE_CALLS"], "a", encoding="utf-8") as calls:
        calls.write(f"{__name__.split('.')[0]}.{action}\\n")

def instrument(**kwargs):
    _note("instrument")

def uninstrument():
    _note("uninstrument")
"""


def _write_library(root: Path, name: str, telemetry: str | None = _FAKE_TELEMETRY) -> None:
    package = root / f"internal_{name}"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    if telemetry is not None:
        (package / "telemetry.py").write_text(telemetry, encoding="utf-8")


def _path_without_commons_libraries(fakes: Path) -> str:
    """``fakes`` first, then every entry of this interpreter's path that holds no real commons library."""
    entries = [str(fakes)]
    for entry in sys.path:
        if not entry or not Path(entry).is_dir():
            continue
        if any((Path(entry) / f"internal_{name}").exists() for name in COMMONS_LIBRARIES):
            continue
        entries.append(entry)
    base_root = str(Path(internal_base.__file__).resolve().parents[1])
    if base_root not in entries:
        entries.append(base_root)
    return os.pathsep.join(entries)


def _run(tmp_path: Path, script: str) -> dict[str, object]:
    """Run ``script`` in ``python -S`` with the fakes; return the JSON it prints and the calls made."""
    calls = tmp_path / "calls.txt"
    calls.touch()
    env = {
        **os.environ,
        "PYTHONPATH": _path_without_commons_libraries(tmp_path / "site"),
        "FAKE_CALLS": str(calls),
    }
    done = subprocess.run(
        [sys.executable, "-S", "-c", textwrap.dedent(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    result["calls"] = calls.read_text(encoding="utf-8").split()
    return result


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    """A directory for fake libraries (cache and http installed, the others not)."""
    root = tmp_path / "site"
    root.mkdir()
    _write_library(root, "cache")
    _write_library(root, "http")
    return root


def test_default_instruments_every_installed_library_and_skips_the_others(site: Path, tmp_path: Path) -> None:
    """instrument() calls cache and http (installed) and skips rdbms, aws, fastapi (not installed)."""
    result = _run(
        tmp_path,
        """
        import json, sys
        import internal_base.telemetry as telemetry
        before = sorted(m for m in sys.modules if m.startswith(("internal_cache", "internal_http")))
        done = telemetry.instrument()
        again = telemetry.instrument()
        undone = telemetry.uninstrument()
        print(json.dumps({"before": before, "done": done, "again": again, "undone": undone}))
        """,
    )
    assert result["before"] == []  # nothing imported until instrument() runs
    assert (result["done"], result["again"], result["undone"]) == (["cache", "http"],) * 3
    assert result["calls"] == [
        "internal_cache.instrument",
        "internal_http.instrument",
        "internal_cache.instrument",
        "internal_http.instrument",
        "internal_cache.uninstrument",
        "internal_http.uninstrument",
    ]


def test_an_explicitly_named_missing_library_names_its_wheel(site: Path, tmp_path: Path) -> None:
    """instrument("cache", "aws") without internal_aws: ImportError naming internal-aws; nothing called."""
    result = _run(
        tmp_path,
        """
        import json
        from internal_base.telemetry import instrument, uninstrument
        errors = []
        for call in (lambda: instrument("cache", "aws"), lambda: uninstrument("rdbms")):
            try:
                call()
            except ImportError as exc:
                errors.append(str(exc))
        print(json.dumps({"errors": errors, "named": instrument("http", "internal_cache")}))
        """,
    )
    assert result["errors"] == [
        "internal_aws is not installed; install the 'internal-aws' wheel to instrument 'aws'",
        "internal_rdbms is not installed; install the 'internal-rdbms' wheel to instrument 'rdbms'",
    ]
    assert result["named"] == ["http", "cache"]
    # Every module is imported before any is called: the missing aws stopped cache too.
    assert result["calls"] == ["internal_http.instrument", "internal_cache.instrument"]


def test_a_library_without_telemetry_module_and_a_broken_one_are_errors(site: Path, tmp_path: Path) -> None:
    """An installed library lacking ``telemetry`` asks for an upgrade; an import error inside propagates."""
    _write_library(site, "rdbms", telemetry=None)
    _write_library(site, "aws", telemetry="import opentelemetry_instrumentation_that_is_missing\n")
    result = _run(
        tmp_path,
        """
        import json
        from internal_base.telemetry import instrument
        errors = []
        for name in ("rdbms", "aws"):
            try:
                instrument(name)
            except ImportError as exc:
                errors.append([type(exc).__name__, str(exc)])
        try:
            instrument()
        except ImportError as exc:
            errors.append([type(exc).__name__, str(exc)])
        print(json.dumps({"errors": errors}))
        """,
    )
    assert result["errors"] == [
        [
            "ImportError",
            "internal_rdbms is installed but has no telemetry module; upgrade the 'internal-rdbms' wheel",
        ],
        ["ModuleNotFoundError", "No module named 'opentelemetry_instrumentation_that_is_missing'"],
        [
            "ImportError",
            "internal_rdbms is installed but has no telemetry module; upgrade the 'internal-rdbms' wheel",
        ],
    ]
    assert result["calls"] == []  # the default found rdbms unusable before calling anything


@pytest.mark.parametrize(
    ("names", "error", "match"),
    [
        (
            ("cahce",),
            ValueError,
            "unknown commons library 'cahce'; choose from cache, rdbms, aws, http, fastapi",
        ),
        (("cache", "base"), ValueError, "unknown commons library 'base'"),
        ((3,), TypeError, "library names are strings such as 'cache'; got 3"),
    ],
)
def test_bad_names_are_refused_before_anything_runs(
    names: tuple[object, ...], error: type[Exception], match: str
) -> None:
    """A misspelt or non-string name fails with a message naming it, for both helpers."""
    for helper in (instrument, uninstrument):
        with pytest.raises(error, match=match):
            helper(*names)  # type: ignore[arg-type]


def test_importing_internal_base_imports_no_library_telemetry() -> None:
    """In this environment (every library installed), importing internal_base imports none of them."""
    script = (
        "import json, sys, internal_base, internal_base.telemetry\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(("
        + ", ".join(repr(f"internal_{name}") for name in COMMONS_LIBRARIES)
        + ")))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout) == []


_FAILING_TELEMETRY = _FAKE_TELEMETRY.replace(
    'def instrument(**kwargs):\n    _note("instrument")',
    'def instrument(**kwargs):\n    _note("instrument")\n    raise RuntimeError("collector refused")',
).replace(
    'def uninstrument():\n    _note("uninstrument")',
    'def uninstrument():\n    _note("uninstrument")\n    raise RuntimeError("still wrapped")',
)
_TRACKED_TELEMETRY = (
    _FAKE_TELEMETRY.replace('_note("instrument")', '_note("instrument"); _ON[0] = True').replace(
        '_note("uninstrument")', '_note("uninstrument"); _ON[0] = False'
    )
    + "\n_ON = [False]\n\ndef is_instrumented():\n    return _ON[0]\n"
)


def test_a_failing_library_leaves_nothing_this_call_turned_on(site: Path, tmp_path: Path) -> None:
    """All or nothing: aws's instrument() raises, so cache (turned on by this call) is turned off
    again; http, on before the call, stays on; the error is the library's own, with a note."""
    _write_library(site, "aws", telemetry=_FAILING_TELEMETRY)
    (site / "internal_http" / "telemetry.py").write_text(_TRACKED_TELEMETRY, encoding="utf-8")
    (site / "internal_cache" / "telemetry.py").write_text(_TRACKED_TELEMETRY, encoding="utf-8")
    result = _run(
        tmp_path,
        """
        import json
        from internal_base.telemetry import instrument
        import internal_cache.telemetry as cache, internal_http.telemetry as http
        instrument("http")
        try:
            instrument("cache", "http", "aws")
        except RuntimeError as exc:
            error = [str(exc), exc.__notes__]
        print(json.dumps({"error": error, "on": [cache.is_instrumented(), http.is_instrumented()]}))
        """,
    )
    assert result["error"] == [
        "collector refused",
        ["instrument('aws') failed; turned off again: cache"],
    ]
    assert result["on"] == [False, True]
    assert result["calls"] == [
        "internal_http.instrument",
        "internal_cache.instrument",
        "internal_http.instrument",
        "internal_aws.instrument",
        "internal_cache.uninstrument",
    ]


def test_import_errors_come_before_any_library_is_instrumented(site: Path, tmp_path: Path) -> None:
    """A missing library named after an installed one: nothing is instrumented at all."""
    result = _run(
        tmp_path,
        """
        import json
        from internal_base.telemetry import instrument
        try:
            instrument("cache", "http", "aws")
        except ImportError as exc:
            print(json.dumps({"error": str(exc)}))
        """,
    )
    assert str(result["error"]).startswith("internal_aws is not installed")
    assert result["calls"] == []


def test_uninstrument_reaches_every_library_when_one_fails(site: Path, tmp_path: Path) -> None:
    """Teardown is best effort: http is uninstrumented although aws before it raised."""
    _write_library(site, "aws", telemetry=_FAILING_TELEMETRY)
    result = _run(
        tmp_path,
        """
        import json
        from internal_base.telemetry import uninstrument
        try:
            uninstrument("cache", "aws", "http")
        except RuntimeError as exc:
            print(json.dumps({"error": [str(exc), exc.__notes__]}))
        """,
    )
    note = "uninstrument('aws') failed; the others were uninstrumented"
    assert result["error"] == ["still wrapped", [note]]
    assert result["calls"] == [
        "internal_cache.uninstrument",
        "internal_aws.uninstrument",
        "internal_http.uninstrument",
    ]


def test_concurrent_calls_do_not_interleave(site: Path, tmp_path: Path) -> None:
    """Threads calling instrument() and uninstrument() at once: each call's libraries run together."""
    slow = _FAKE_TELEMETRY.replace("def _note(action):", "def _note(action):\n    time.sleep(0.002)")
    for name in ("cache", "http"):
        (site / f"internal_{name}" / "telemetry.py").write_text("import time\n" + slow, encoding="utf-8")
    result = _run(
        tmp_path,
        """
        import json, threading
        from internal_base.telemetry import instrument, uninstrument
        def work(helper):
            for _ in range(10):
                helper("cache", "http")
        threads = [threading.Thread(target=work, args=(h,)) for h in (instrument, uninstrument) * 2]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(json.dumps({}))
        """,
    )
    calls = result["calls"]
    assert isinstance(calls, list)
    assert len(calls) == 80
    pairs = [(calls[i], calls[i + 1]) for i in range(0, 80, 2)]
    assert all(first.startswith("internal_cache.") for first, _ in pairs)
    assert all(first.split(".")[1] == second.split(".")[1] for first, second in pairs)
