"""internal_base against the bare libraries it builds on, for the harness in ``benchmarks/``.

``suite(ctx)`` yields :class:`commons_bench.Benchmark` rows; the harness runs raw and commons
interleaved, with warm-up and medians (see ``benchmarks/commons_bench``). Promises measured:

- a JSON log record with 5 extra keys costs at most 1.5x a bare python-json-logger formatter;
- retry + breaker on the success path add at most 10 µs per call;
- 10 health checks of 100 ms each aggregate in about 100 ms, not 1 s.

Run: ``./pants run benchmarks:run -- --only base`` (or this file, with ``benchmarks/`` on the path).
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from opentelemetry.sdk.trace import TracerProvider
from pythonjsonlogger.json import JsonFormatter as BareJsonFormatter

from commons_bench import BenchContext, Benchmark, Target
from internal_base.context import bind, correlation_scope
from internal_base.health import HealthRegistry
from internal_base.logging import (
    ContextFilter,
    JsonFormatter,
    RedactionFilter,
    configure_logging,
    get_logger,
    shutdown_logging,
)
from internal_base.resilience import CircuitBreaker, ResiliencePolicy, RetryPolicy

__all__ = ["suite"]

_EXTRA = {"user_id": 42, "route": "/orders", "status": 200, "duration_ms": 12.5, "items": ["a", "b"]}
_CHECKS = 10
_CHECK_SECONDS = 0.1


class _NullStream(io.StringIO):
    """A text stream that drops what it is given (so only formatting and handling are measured)."""

    def write(self, text: str) -> int:
        return len(text)


def _record() -> logging.LogRecord:
    return logging.getLogger("commons_bench").makeRecord(
        "commons_bench", logging.INFO, __file__, 1, "order %s done", ("o-1",), None, extra=_EXTRA
    )


def _in_context(body: Callable[[int], None]) -> Callable[[int], None]:
    """Run ``body`` inside a correlation scope with a bound key, as a request handler would."""

    def run(n: int) -> None:
        with correlation_scope("bench-correlation-id"), bind(tenant="acme"):
            body(n)

    return run


def _format_benchmark() -> Benchmark:
    bare = BareJsonFormatter(timestamp=True)
    ours = JsonFormatter()
    context_filter, redaction_filter = ContextFilter(), RedactionFilter()

    def raw(n: int) -> None:
        for _ in range(n):
            bare.format(_record())

    def commons(n: int) -> None:
        for _ in range(n):
            record = _record()
            context_filter.filter(record)
            redaction_filter.filter(record)
            ours.format(record)

    return Benchmark(
        "JSON log record, 5 extra keys",
        raw=_in_context(raw),
        commons=_in_context(commons),
        target=Target.cost_ratio(1.5),
        ops=2_000,
        unit="record",
        note="record made + formatted; raw: bare python-json-logger JsonFormatter(timestamp=True); "
        "commons: ContextFilter + RedactionFilter + JsonFormatter",
    )


def _format_in_span_benchmark() -> Benchmark:
    bare = BareJsonFormatter(timestamp=True)
    ours = JsonFormatter()
    context_filter, redaction_filter = ContextFilter(), RedactionFilter()
    tracer = TracerProvider().get_tracer("commons_bench")  # a real SDK span, exported nowhere

    def in_span(body: Callable[[int], None]) -> Callable[[int], None]:
        def run(n: int) -> None:
            with tracer.start_as_current_span("request"):
                body(n)

        return _in_context(run)

    def raw(n: int) -> None:
        for _ in range(n):
            bare.format(_record())

    def commons(n: int) -> None:
        for _ in range(n):
            record = _record()
            context_filter.filter(record)
            redaction_filter.filter(record)
            ours.format(record)

    return Benchmark(
        "JSON log record in a span, 5 extra keys",
        raw=in_span(raw),
        commons=in_span(commons),
        ops=2_000,
        unit="record",
        note="informational: the row above with a current span, so commons also writes trace_id and span_id",
    )


def _logger_benchmark(stream: _NullStream) -> Benchmark:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(BareJsonFormatter(timestamp=True))
    raw_logger = logging.getLogger("commons_bench.raw_json")
    raw_logger.handlers[:] = [handler]
    raw_logger.setLevel(logging.INFO)
    raw_logger.propagate = False
    configure_logging(level="INFO", json=True, stream=stream)
    commons_logger = get_logger("commons_bench.commons_json")

    def raw(n: int) -> None:
        for _ in range(n):
            raw_logger.info("order %s done", "o-1", extra=_EXTRA)

    def commons(n: int) -> None:
        for _ in range(n):
            commons_logger.info("order %s done", "o-1", extra=_EXTRA)

    return Benchmark(
        "logger.info end to end, 5 extra keys",
        raw=_in_context(raw),
        commons=_in_context(commons),
        ops=2_000,
        unit="record",
        note="informational: the whole logger.info call to a null stream; raw: a StreamHandler with the "
        "bare formatter; commons: configure_logging(json=True)",
    )


def _resilience_benchmark() -> Benchmark:
    policy = ResiliencePolicy(retry=RetryPolicy(), breaker=CircuitBreaker("commons_bench"))

    async def succeed() -> int:
        return 1

    async def raw(n: int) -> None:
        for _ in range(n):
            await succeed()

    async def commons(n: int) -> None:
        for _ in range(n):
            await policy.run(succeed)

    return Benchmark(
        "retry + breaker, success path",
        raw=raw,
        commons=commons,
        target=Target.overhead(10e-6),
        ops=5_000,
        unit="call",
        note="raw: await fn(); commons: ResiliencePolicy(retry=RetryPolicy(), breaker=CircuitBreaker)"
        ".run(fn)",
    )


def _health_benchmark() -> Benchmark:
    async def check() -> bool:
        await asyncio.sleep(_CHECK_SECONDS)
        return True

    registry = HealthRegistry(cache_ttl=0)
    for index in range(_CHECKS):
        registry.register(f"check-{index}", check)

    async def raw(n: int) -> None:
        for _ in range(n):
            await asyncio.gather(*(check() for _ in range(_CHECKS)))

    async def commons(n: int) -> None:
        for _ in range(n):
            report = await registry.readiness()
            if len(report.checks) != _CHECKS:
                raise AssertionError(f"expected {_CHECKS} checks, got {len(report.checks)}")

    return Benchmark(
        "10 health checks of 100 ms, aggregated",
        raw=raw,
        commons=commons,
        target=Target.latency(0.15),
        ops=1,
        rounds=5,
        unit="report",
        note="raw: asyncio.gather of the checks; commons: HealthRegistry(cache_ttl=0).readiness(); "
        "'about 100 ms, not 1 s' judged as at most 150 ms",
    )


@asynccontextmanager
async def suite(ctx: BenchContext) -> AsyncIterator[list[Benchmark]]:
    """internal_base against python-json-logger, a bare await and a bare asyncio.gather."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield [
            _format_benchmark(),
            _format_in_span_benchmark(),
            _logger_benchmark(_NullStream()),
            _resilience_benchmark(),
            _health_benchmark(),
        ]
    finally:
        shutdown_logging()
        root.handlers[:] = handlers
        root.setLevel(level)


if __name__ == "__main__":  # pragma: no cover - a shortcut for `./pants run benchmarks:run -- --only base`
    from commons_bench.__main__ import main

    raise SystemExit(main(["--only", "base", *sys.argv[1:]]))
