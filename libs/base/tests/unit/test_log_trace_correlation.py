"""Log records written while a span is current carry its trace and span IDs (JSON and text).

The spans come from ``configure_telemetry(exporter="memory")``; each record's IDs are compared with
the exported span it was written in.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from internal_base.logging import configure_logging, get_logger, shutdown_logging
from internal_base.telemetry import Telemetry, configure_telemetry, span

log = get_logger("tests.trace_correlation")
_TEXT_IDS = re.compile(r" trace_id=([0-9a-f]+) span_id=([0-9a-f]+)")


@pytest.fixture()
def telemetry() -> Iterator[Telemetry]:
    """In-memory spans for this test only."""
    configured = configure_telemetry(service_name="tests", exporter="memory", set_global=False)
    yield configured
    configured.shutdown()


def _configure(json_format: bool, queue: bool) -> io.StringIO:
    buffer = io.StringIO()
    configure_logging(stream=buffer, json=json_format, queue=queue, level="INFO")
    return buffer


def _ids(buffer: io.StringIO, json_format: bool) -> list[tuple[str | None, str | None]]:
    """(trace_id, span_id) of every line written; (None, None) where a line carries none."""
    found: list[tuple[str | None, str | None]] = []
    for line in buffer.getvalue().splitlines():
        if json_format:
            record = json.loads(line)
            assert "trace_id" in record  # JSON: always present, null when unset
            assert "span_id" in record
            found.append((record["trace_id"], record["span_id"]))
        else:
            match = _TEXT_IDS.search(line)
            assert ("trace_id=" in line) == (match is not None)  # text: both or neither
            found.append((match.group(1), match.group(2)) if match else (None, None))
    return found


def _hex(telemetry: Telemetry, name: str) -> tuple[str, str]:
    assert telemetry.span_exporter is not None
    (finished,) = (s for s in telemetry.span_exporter.get_finished_spans() if s.name == name)
    assert finished.context is not None
    return format(finished.context.trace_id, "032x"), format(finished.context.span_id, "016x")


@pytest.mark.parametrize("queue", [False, True], ids=["direct", "queued"])
@pytest.mark.parametrize("json_format", [True, False], ids=["json", "text"])
def test_records_carry_the_current_span_ids_and_none_outside(
    telemetry: Telemetry, json_format: bool, queue: bool
) -> None:
    """Outside: no IDs. In a span: its IDs. In a child: the child's span ID, the same trace."""
    buffer = _configure(json_format, queue)
    try:
        log.info("before")
        with span("parent"):
            log.info("in parent")
            with span("child"):
                log.warning("in child")
            log.info("parent again")
        log.info("after")
    finally:
        shutdown_logging()
    parent, child = _hex(telemetry, "parent"), _hex(telemetry, "child")
    assert parent[0] == child[0]
    assert parent[1] != child[1]
    assert re.fullmatch("[0-9a-f]{32}", parent[0])
    assert re.fullmatch("[0-9a-f]{16}", child[1])
    assert _ids(buffer, json_format) == [(None, None), parent, child, parent, (None, None)]


@pytest.mark.parametrize("json_format", [True, False], ids=["json", "text"])
def test_concurrent_tasks_log_their_own_spans(telemetry: Telemetry, json_format: bool) -> None:
    """Two tasks interleaving at awaits each log the IDs of their own span."""
    buffer = _configure(json_format, queue=False)
    both_started = asyncio.Event()

    async def work(name: str, started: list[str]) -> None:
        with span(name):
            started.append(name)
            if len(started) == 2:
                both_started.set()
            await both_started.wait()  # both spans open at once before either logs
            log.info(name)

    async def main() -> None:
        started: list[str] = []
        await asyncio.gather(work("task-a", started), work("task-b", started))

    try:
        asyncio.run(main())
    finally:
        shutdown_logging()
    lines = buffer.getvalue().splitlines()
    by_message = {}
    for line, ids in zip(lines, _ids(buffer, json_format), strict=True):
        message = json.loads(line)["message"] if json_format else line.split(" [-] ")[1].split(" ")[0]
        by_message[message] = ids
    assert by_message == {"task-a": _hex(telemetry, "task-a"), "task-b": _hex(telemetry, "task-b")}


def test_an_exception_logged_in_a_span_carries_its_ids(telemetry: Telemetry) -> None:
    """``log.exception`` inside the span that fails: the error record has that span's IDs."""
    buffer = _configure(True, queue=False)
    try:
        with span("failing"):
            try:
                raise RuntimeError("boom")
            except RuntimeError:
                log.exception("failed")
    finally:
        shutdown_logging()
    (record,) = (json.loads(line) for line in buffer.getvalue().splitlines())
    assert (record["trace_id"], record["span_id"]) == _hex(telemetry, "failing")
    assert record["level"] == "ERROR"
    assert "RuntimeError: boom" in record["exc_info"]


def test_a_foreign_logger_record_gets_the_ids_too(telemetry: Telemetry) -> None:
    """A third-party logger (propagating to the root) is stamped like ours."""
    buffer = _configure(True, queue=False)
    try:
        with span("third-party"):
            logging.getLogger("uvicorn.error").info("started")
    finally:
        shutdown_logging()
    (record,) = (json.loads(line) for line in buffer.getvalue().splitlines())
    assert (record["trace_id"], record["span_id"]) == _hex(telemetry, "third-party")
