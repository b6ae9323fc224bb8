"""Review of log/trace correlation: threads behind a queue, remote and non-sampled parents, invalid spans."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from internal_base.logging import configure_logging, get_logger, shutdown_logging
from internal_base.telemetry import Telemetry, configure_telemetry, span

log = get_logger("tests.review_trace_ids")


@pytest.fixture()
def telemetry() -> Iterator[Telemetry]:
    """In-memory spans for this test only."""
    configured = configure_telemetry(service_name="tests", exporter="memory", set_global=False)
    yield configured
    configured.shutdown()


@pytest.fixture()
def queued() -> Iterator[io.StringIO]:
    """JSON logging through the queue (the listener thread formats the records)."""
    stream = io.StringIO()
    configure_logging(stream=stream, json=True, queue=True)
    yield stream
    shutdown_logging()
    logging.getLogger().setLevel(logging.WARNING)


def test_threads_behind_a_queue_log_their_own_spans(telemetry: Telemetry, queued: io.StringIO) -> None:
    """Eight threads, each in its own span, 40 records each: every record has its thread's IDs."""
    expected: dict[str, tuple[str, str]] = {}
    start = threading.Barrier(8)

    def work(index: int) -> None:
        start.wait(timeout=60)
        with span(f"thread-{index}") as current:
            context = current.get_span_context()
            expected[str(index)] = (format(context.trace_id, "032x"), format(context.span_id, "016x"))
            for _ in range(40):
                log.info("in", extra={"worker": str(index)})
        log.info("out", extra={"worker": str(index)})

    threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    shutdown_logging()
    records = [json.loads(line) for line in queued.getvalue().splitlines()]
    assert len(records) == 8 * 41
    for record in records:
        ids = (record["trace_id"], record["span_id"])
        assert ids == (expected[record["worker"]] if record["message"] == "in" else (None, None))


def test_remote_non_sampled_parent_ids_are_written_and_an_invalid_span_gives_none(
    queued: io.StringIO,
) -> None:
    """A non-sampled remote context still correlates (its trace exists upstream); INVALID gives nulls."""
    remote = SpanContext(trace_id=0xABC, span_id=0xDEF, is_remote=True, trace_flags=TraceFlags(0))
    with trace.use_span(NonRecordingSpan(remote)):
        log.info("remote")
    with trace.use_span(NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)):
        log.info("invalid")
    shutdown_logging()
    remote_record, invalid_record = (json.loads(line) for line in queued.getvalue().splitlines())
    assert (remote_record["trace_id"], remote_record["span_id"]) == (f"{0xABC:032x}", f"{0xDEF:016x}")
    assert (invalid_record["trace_id"], invalid_record["span_id"]) == (None, None)
