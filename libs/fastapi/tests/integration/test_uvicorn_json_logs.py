"""A real uvicorn subprocess served by ``internal_fastapi.server.run``: its output is JSON lines only."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

APP = """
import logging, warnings
from fastapi import FastAPI
from internal_base.telemetry import configure_telemetry
from internal_fastapi import FastAPISettings, install
from internal_fastapi.server import run

configure_telemetry(service_name="uvicorn-json-test", exporter="none")
app = FastAPI()
install(app, FastAPISettings(telemetry=True))

@app.get("/items")
async def items() -> dict[str, int]:
    logging.getLogger("app").info("listing with password=%s", "hunter2")
    warnings.warn("a deprecated thing\\nover two lines", DeprecationWarning, stacklevel=1)
    return {"n": 1}

@app.get("/boom")
async def boom() -> None:
    raise RuntimeError("secret=hunter2 went wrong")

run(app, host="127.0.0.1", port=0)
"""
_RUNNING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")
_SECRETS = ("hunter2", "tok-abc123", "key-xyz789")


def _records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """The app under uvicorn in a subprocess: (base URL, stdout file, stderr file); stopped after."""
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONWARNINGS": "always"}
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen([sys.executable, "-c", APP], stdout=stdout, stderr=stderr, env=env)
    try:
        deadline = time.monotonic() + 60
        while (match := _RUNNING.search(err.read_text())) is None:
            assert process.poll() is None, f"uvicorn exited: {err.read_text()}"
            assert time.monotonic() < deadline, f"uvicorn did not start: {err.read_text()}"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{match.group(1)}", out, err
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_uvicorn_writes_json_lines_only(served: tuple[str, Path, Path]) -> None:
    """uvicorn's error and access loggers, the app's loggers and warnings: every line is JSON, redacted."""
    url, out, err = served
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/items?token=tok-abc123&api%5Fkey=key-xyz789").status_code == 200
        assert client.get("/boom").status_code == 500
    deadline = time.monotonic() + 30
    while '"GET /boom' not in err.read_text() or "GET /boom 500" not in err.read_text():
        assert time.monotonic() < deadline, err.read_text()
        time.sleep(0.05)
    text = out.read_text() + err.read_text()
    records = _records(text)  # raises on any line that is not JSON
    assert "\x1b" not in text
    assert [secret for secret in _SECRETS if secret in text] == []
    assert not any("color_message" in record for record in records)
    by_logger: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_logger.setdefault(record["logger"], []).append(record)
    assert any(r["message"].startswith("Uvicorn running on") for r in by_logger["uvicorn.error"])
    access = [r["message"] for r in by_logger["uvicorn.access"]]
    assert any('"GET /items?token=***&api%5Fkey=*** HTTP/1.1" 200' in line for line in access), access
    assert any('"GET /boom HTTP/1.1" 500' in line for line in access), access
    assert any("deprecated thing" in r["message"] for r in by_logger["py.warnings"])
    ours = {r["http_path"]: r for r in by_logger["internal_fastapi.access"]}
    [error] = by_logger["internal_fastapi.errors"]
    assert error["trace_id"] is not None
    assert error["trace_id"] == ours["/boom"]["trace_id"]
    assert ours["/items?token=***&api%5Fkey=***"]["span_id"] is not None
