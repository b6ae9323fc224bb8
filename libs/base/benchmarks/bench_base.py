"""Micro-benchmarks of internal_base against the bare libraries it builds on.

Each function returns ``{"operation", "raw", "commons", "unit", "target"}``; a harness calls
``benchmarks()`` and runs them. Nothing here runs at import.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from pythonjsonlogger.json import JsonFormatter as BareJsonFormatter

from internal_base.context import bind, correlation_scope
from internal_base.health import HealthRegistry
from internal_base.logging import ContextFilter, JsonFormatter, RedactionFilter
from internal_base.resilience import CircuitBreaker, ResiliencePolicy, RetryPolicy

Result = dict[str, Any]
_EXTRA = {"user_id": 42, "route": "/orders", "status": 200, "duration_ms": 12.5, "items": ["a", "b"]}


def _per_op_us(fn: Callable[[], object], iterations: int) -> float:
    """Best of three runs, in microseconds per call."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(iterations):
            fn()
        best = min(best, time.perf_counter() - started)
    return best / iterations * 1e6


def bench_json_log_record(iterations: int = 20_000) -> Result:
    """A record with 5 extra keys: commons filters + formatter vs a bare python-json-logger formatter."""
    logger = logging.getLogger("bench")
    bare = BareJsonFormatter(timestamp=True)
    ours = JsonFormatter()
    context_filter, redaction_filter = ContextFilter(), RedactionFilter()

    def record() -> logging.LogRecord:
        return logger.makeRecord(
            "bench", logging.INFO, __file__, 1, "order %s done", ("o-1",), None, extra=_EXTRA
        )

    def raw() -> None:
        bare.format(record())

    def commons() -> None:
        rec = record()
        context_filter.filter(rec)
        redaction_filter.filter(rec)
        ours.format(rec)

    with correlation_scope("bench-correlation-id"), bind(tenant="acme"):
        raw_us, commons_us = _per_op_us(raw, iterations), _per_op_us(commons, iterations)
    return {
        "operation": "json log record, 5 extra keys",
        "raw": raw_us,
        "commons": commons_us,
        "unit": "µs/op",
        "target": "ratio <= 1.5",
    }


def bench_resilience_success_path(iterations: int = 20_000) -> Result:
    """Retry + breaker around a call that succeeds, vs awaiting the call directly."""

    async def noop() -> int:
        return 1

    policy = ResiliencePolicy(retry=RetryPolicy(), breaker=CircuitBreaker("bench"))

    async def measure() -> tuple[float, float]:
        async def loop(call: Callable[[], Any]) -> float:
            best = float("inf")
            for _ in range(3):
                started = time.perf_counter()
                for _ in range(iterations):
                    await call()
                best = min(best, time.perf_counter() - started)
            return best / iterations * 1e6

        return await loop(noop), await loop(lambda: policy.run(noop))

    raw_us, commons_us = asyncio.run(measure())
    return {
        "operation": "retry + breaker, success path",
        "raw": raw_us,
        "commons": commons_us,
        "unit": "µs/op",
        "target": "commons - raw <= 10 µs/op",
    }


def bench_health_aggregate(checks: int = 10, delay: float = 0.1) -> Result:
    """Ten 100 ms checks: registry readiness vs a bare ``asyncio.gather`` of the same checks."""

    async def check() -> None:
        await asyncio.sleep(delay)

    async def measure() -> tuple[float, float]:
        started = time.perf_counter()
        await asyncio.gather(*(check() for _ in range(checks)))
        raw = time.perf_counter() - started
        registry = HealthRegistry(cache_ttl=0)
        for index in range(checks):
            registry.register(f"check-{index}", check)
        started = time.perf_counter()
        await registry.readiness()
        return raw, time.perf_counter() - started

    raw_s, commons_s = asyncio.run(measure())
    return {
        "operation": f"{checks} health checks of {delay * 1000:.0f} ms",
        "raw": raw_s,
        "commons": commons_s,
        "unit": "s",
        "target": f"commons <= {delay * 1.5:g} s",
    }


def benchmarks() -> list[Callable[[], Result]]:
    """The benchmark functions, for the harness."""
    return [bench_json_log_record, bench_resilience_success_path, bench_health_aggregate]


if __name__ == "__main__":
    for bench in benchmarks():
        print(bench())
