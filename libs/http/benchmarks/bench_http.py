"""internal_http's ``create_client`` against a raw ``httpx.AsyncClient``, for the harness in ``benchmarks/``.

``suite(ctx)`` starts a uvicorn server (a bare ASGI app) in a thread on 127.0.0.1 and yields
:class:`commons_bench.Benchmark` rows; the harness runs raw and commons interleaved, with warm-up
and medians. Promise measured: at most 1.1x the cost of raw httpx for sequential GETs and for
GETs from 50 concurrent tasks, against the same local server; with ``internal_http.telemetry``
instrumented (a CLIENT span and a duration measurement per GET), at most 1.15x.

Run: ``./pants run benchmarks:run -- --only http`` (or this file, with ``benchmarks/`` on the path).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from commons_bench import BenchContext, Benchmark, Target, run_concurrently, run_sequentially, serve_asgi
from internal_http import HttpSettings, create_client
from internal_http.telemetry import instrument, uninstrument

__all__ = ["app", "suite"]

_BODY = b'{"status":"ok","items":[1,2,3]}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]
_CONCURRENCY = 50
_INSTRUMENTED_NOTE = (
    "raw: uninstrumented httpx; commons: create_client() after internal_http.telemetry.instrument() with "
    "SDK providers: a TracerProvider whose SimpleSpanProcessor hands every span to an exporter that "
    "drops it, a MeterProvider with an InMemoryMetricReader"
)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """A minimal ASGI app (no framework) so the client side dominates what is measured."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})


class _DroppingExporter(SpanExporter):
    """Receives every finished span (SimpleSpanProcessor: on the request path) and drops it."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _providers() -> tuple[TracerProvider, MeterProvider]:
    """SDK providers of this suite only: nothing global, so other suites stay uninstrumented."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(_DroppingExporter()))
    return tracer_provider, MeterProvider(metric_readers=[InMemoryMetricReader()])


@asynccontextmanager
async def suite(ctx: BenchContext) -> AsyncIterator[list[Benchmark]]:
    """2,000 GETs sequentially and from 50 tasks, raw httpx vs create_client(), interleaved.

    The instrumented rows turn ``internal_http.telemetry`` on for their commons rounds only.
    """
    tracer_provider, meter_provider = _providers()
    async with serve_asgi(app) as base_url:
        raw = httpx.AsyncClient(base_url=base_url)
        commons = create_client(HttpSettings(base_url=base_url))
        try:

            async def get_raw(index: int) -> None:
                response = await raw.get("/items")
                response.raise_for_status()

            async def get_commons(index: int) -> None:
                response = await commons.get("/items")
                response.raise_for_status()

            async def seq_raw(n: int) -> None:
                await run_sequentially(n, get_raw)

            async def seq_commons(n: int) -> None:
                await run_sequentially(n, get_commons)

            async def seq_instrumented(n: int) -> None:
                instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
                try:
                    await run_sequentially(n, get_commons)
                finally:
                    uninstrument()

            async def conc_instrumented(n: int) -> None:
                instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
                try:
                    await run_concurrently(n, _CONCURRENCY, get_commons)
                finally:
                    uninstrument()

            async def conc_raw(n: int) -> None:
                await run_concurrently(n, _CONCURRENCY, get_raw)

            async def conc_commons(n: int) -> None:
                await run_concurrently(n, _CONCURRENCY, get_commons)

            note = (
                "server: uvicorn + a bare ASGI app in a thread of this process (127.0.0.1); both clients "
                "with httpx's default limits; 61 rounds of 50 GETs (3,050 per variant; the issue asks 2,000)"
            )
            yield [
                Benchmark(
                    "GET sequential",
                    raw=seq_raw,
                    commons=seq_commons,
                    target=Target.cost_ratio(1.1),
                    ops=50,
                    rounds=61,
                    unit="GET",
                    note=note,
                ),
                Benchmark(
                    "GET, 50 concurrent tasks",
                    raw=conc_raw,
                    commons=conc_commons,
                    target=Target.cost_ratio(1.1),
                    ops=100,
                    min_ops=_CONCURRENCY,
                    rounds=41,
                    unit="GET",
                    note="41 rounds of 100 GETs spread over 50 tasks (4,100 per variant)",
                ),
                Benchmark(
                    "GET sequential, telemetry instrumented",
                    raw=seq_raw,
                    commons=seq_instrumented,
                    target=Target.cost_ratio(1.15),
                    ops=50,
                    rounds=61,
                    unit="GET",
                    note=_INSTRUMENTED_NOTE,
                ),
                Benchmark(
                    "GET, 50 concurrent tasks, telemetry instrumented",
                    raw=conc_raw,
                    commons=conc_instrumented,
                    target=Target.cost_ratio(1.15),
                    ops=100,
                    min_ops=_CONCURRENCY,
                    rounds=41,
                    unit="GET",
                    note=_INSTRUMENTED_NOTE,
                ),
            ]
        finally:
            await raw.aclose()
            await commons.aclose()


if __name__ == "__main__":  # pragma: no cover - a shortcut for `./pants run benchmarks:run -- --only http`
    from commons_bench.__main__ import main

    raise SystemExit(main(["--only", "http", *sys.argv[1:]]))
