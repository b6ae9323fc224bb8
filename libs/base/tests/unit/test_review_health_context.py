"""Review cases: checks that exit or interrupt, hostile trace carriers (bytes, non-str keys, huge headers)."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from typing import Any

import pytest
from opentelemetry import trace

from internal_base.context import bind, bound_keys, extract_context, get_correlation_id
from internal_base.health import HealthRegistry, HealthStatus
from internal_base.resilience import RetryPolicy, testing
from internal_base.telemetry import configure_telemetry, span

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def exits() -> bool:
    """A synchronous check that calls sys.exit (a CLI helper reused as a check)."""
    sys.exit(3)


def interrupts() -> bool:
    """A synchronous check that raises KeyboardInterrupt itself."""
    raise KeyboardInterrupt("from the check")


async def exits_async() -> bool:
    """An async check that calls sys.exit."""
    sys.exit(4)


@pytest.mark.parametrize(
    "check", [exits, interrupts, exits_async], ids=["sync-exit", "sync-interrupt", "async-exit"]
)
async def test_check_raising_system_exit_is_unhealthy_not_fatal(check: Any) -> None:
    """A check raising SystemExit/KeyboardInterrupt is reported unhealthy; readiness() returns."""
    registry = HealthRegistry(cache_ttl=0)
    registry.register("exiting", check, timeout=10)
    report = await asyncio.wait_for(registry.readiness(), 30)
    result = report.check("exiting")
    assert result.status is HealthStatus.UNHEALTHY
    assert result.error is not None
    assert "SystemExit" in result.error or "KeyboardInterrupt" in result.error


@pytest.mark.parametrize(
    "carrier",
    [
        {"traceparent": TRACEPARENT.encode(), "X-Correlation-ID": b"abc-123"},
        {"traceparent": 5, "X-Correlation-ID": 7},
        {"traceparent": [TRACEPARENT], "x-request-id": ["r"]},
        {5: "x", None: "y", "X-Correlation-ID": "abc-123"},
    ],
    ids=["bytes", "ints", "lists", "non-str-keys"],
)
def test_extract_context_tolerates_non_string_carriers(carrier: dict[Any, Any]) -> None:
    """Non-str keys or values in a carrier never raise: bytes are read, other values ignored."""
    with extract_context(carrier):
        correlation_id = get_correlation_id()
    assert correlation_id is not None


def test_extract_context_reads_bytes_values() -> None:
    """Bytes values (raw ASGI headers) are decoded and used."""
    carrier: dict[str, Any] = {"traceparent": TRACEPARENT.encode(), "x-correlation-id": b"abc-123"}
    with extract_context(carrier):
        assert get_correlation_id() == "abc-123"
        assert format(trace.get_current_span().get_span_context().trace_id, "032x") == TRACEPARENT[3:35]


def test_huge_baggage_header_is_not_logged_whole(caplog: pytest.LogCaptureFixture) -> None:
    """An oversized baggage/tracestate header is dropped without writing it into a log record."""
    carrier = {"baggage": "k=v," * 50_000, "tracestate": "a=b," * 50_000, "traceparent": TRACEPARENT}
    with caplog.at_level(logging.DEBUG), extract_context(carrier):
        assert trace.get_current_span().get_span_context().is_valid
    assert all(len(record.getMessage()) < 10_000 for record in caplog.records)


class Unprintable(ConnectionError):
    """A retryable error whose ``str()`` raises (a driver bug)."""

    def __str__(self) -> str:
        raise RuntimeError("str() failed")


async def test_retry_survives_an_unprintable_exception(caplog: pytest.LogCaptureFixture) -> None:
    """A retried exception whose str() raises is logged as unprintable and the retry goes on."""
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise Unprintable()
        return "ok"

    policy = RetryPolicy(attempts=3, retry_on=(ConnectionError,))
    with testing(), caplog.at_level(logging.WARNING):
        assert await policy.call(flaky) == "ok"
    assert len(calls) == 2
    assert any("Unprintable" in record.getMessage() for record in caplog.records)


class AsyncJob:
    """An async callable object (``async def __call__``), as job frameworks pass around."""

    async def __call__(self) -> dict[str, object]:
        await asyncio.sleep(0)
        return bound_keys()


async def test_bind_decorates_async_callable_objects() -> None:
    """``bind(...)(obj)`` keeps the keys bound while an async callable object's coroutine runs."""
    decorated = bind(job="nightly")(AsyncJob())
    assert await decorated() == {"job": "nightly"}


async def test_span_decorates_async_callable_objects() -> None:
    """``span(...)(obj)`` keeps the span open (and current) while the coroutine runs."""
    telemetry = configure_telemetry(service_name="review", exporter="memory", set_global=False)
    seen: list[bool] = []

    class Traced:
        async def __call__(self) -> None:
            await asyncio.sleep(0)
            seen.append(trace.get_current_span().get_span_context().is_valid)
            raise ValueError("inside")

    with pytest.raises(ValueError, match="inside"):
        await span("review.job")(Traced())()
    assert seen == [True]
    assert telemetry.span_exporter is not None
    (finished,) = (s for s in telemetry.span_exporter.get_finished_spans() if s.name == "review.job")
    assert [event.name for event in finished.events] == ["exception"]


async def always_ok() -> bool:
    """A passing check."""
    return True


def _churn(registry: HealthRegistry, stop: threading.Event) -> None:
    """Register and unregister checks from another thread until ``stop`` is set."""
    number = 0
    while not stop.is_set():
        registry.register(f"churn-{number % 200}", always_ok)
        registry.unregister(f"churn-{(number + 100) % 200}")
        number += 1


async def test_liveness_while_another_thread_registers_checks() -> None:
    """register/unregister from another thread never makes a report raise (dict changed size)."""
    registry = HealthRegistry(cache_ttl=0)
    for number in range(5000):
        registry.register(f"fixed-{number}", always_ok)  # readiness-only: liveness() skips running them
    stop = threading.Event()
    writer = threading.Thread(target=_churn, args=(registry, stop))
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so the writer runs mid-iteration
    writer.start()
    try:
        for _ in range(300):
            report = await registry.liveness()
            assert report.status is HealthStatus.HEALTHY
    finally:
        stop.set()
        writer.join(30)
        sys.setswitchinterval(interval)
