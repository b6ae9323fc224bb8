"""A bare FastAPI app against the same app with the commons stack installed, for ``benchmarks/``.

``suite(ctx)`` yields :class:`commons_bench.Benchmark` rows; the harness runs raw and commons
interleaved, with warm-up and medians. Every app is called in-process through
``httpx.ASGITransport`` (no sockets), so a row measures the middleware, handlers and routing that
:func:`internal_fastapi.install` (and :func:`internal_fastapi.telemetry.instrument`) add. The raw
app is a bare ``FastAPI`` with FastAPI's own telemetry off, so no row depends on whether another
suite of the run installed OpenTelemetry globals.

Run: ``./pants run benchmarks:run -- --only fastapi``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from commons_bench import BenchContext, Benchmark, Target
from internal_base.health import HealthRegistry
from internal_fastapi import FastAPISettings, install
from internal_fastapi.telemetry import instrument, uninstrument

__all__ = ["suite"]

_NATIVE_OFF: Any = {"tracing": False, "metrics": False, "logs": False}


def _app(*, commons: bool) -> FastAPI:
    app = FastAPI(telemetry=_NATIVE_OFF)
    if commons:
        install(app, FastAPISettings(), health_registry=HealthRegistry())

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    return app


def _runner(app: FastAPI, clients: list[httpx.AsyncClient]) -> Callable[[int], Awaitable[None]]:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
    clients.append(client)
    headers = {"X-Correlation-ID": "bench"}

    async def run(n: int) -> None:
        for index in range(n):
            response = await client.get(f"/items/{index}?token=x", headers=headers)
            response.raise_for_status()

    return run


@asynccontextmanager
async def suite(ctx: BenchContext) -> AsyncIterator[list[Benchmark]]:
    """GET with a path parameter: bare app vs install(), telemetry off and on."""
    access = logging.getLogger("internal_fastapi.access")
    previous = access.level
    access.setLevel(logging.WARNING)  # measure the middleware, not the log handler's I/O
    # Recording providers without exporters (what a BatchSpanProcessor adds is off the hot path);
    # not the process-wide ones, so other suites of the run are unaffected.
    tracer_provider, meter_provider = TracerProvider(), MeterProvider()
    traced, traced_bare = _app(commons=True), _app(commons=False)
    instrument(traced, tracer_provider=tracer_provider, meter_provider=meter_provider)
    instrument(traced_bare, tracer_provider=tracer_provider, meter_provider=meter_provider)
    clients: list[httpx.AsyncClient] = []
    raw = _runner(_app(commons=False), clients)
    note = "raw: a bare FastAPI app (FastAPI's own telemetry off); access log at WARNING"
    try:
        yield [
            Benchmark(
                "GET /items/{id} via httpx.ASGITransport, telemetry off",
                raw=raw,
                commons=_runner(_app(commons=True), clients),
                target=Target.cost_ratio(1.10),
                ops=300,
                unit="request",
                note=f"{note}; commons: the same app after install()",
            ),
            Benchmark(
                "GET /items/{id} via httpx.ASGITransport, tracing + metrics on",
                raw=raw,
                commons=_runner(traced, clients),
                target=Target.cost_ratio(1.15),
                ops=300,
                unit="request",
                note=f"{note}; commons: install() + internal_fastapi.telemetry.instrument(app) (the "
                "OpenTelemetry FastAPI instrumentor: server span, http.server.* metrics)",
            ),
            Benchmark(
                "GET /items/{id}, tracing + metrics on, vs the instrumentor alone",
                raw=_runner(traced_bare, clients),
                commons=_runner(traced, clients),
                target=None,
                ops=300,
                unit="request",
                note="raw: a bare app with the same instrumentor; commons: install() + instrument(app)",
            ),
        ]
    finally:
        for client in clients:
            await client.aclose()
        uninstrument(traced)
        uninstrument(traced_bare)
        tracer_provider.shutdown()
        meter_provider.shutdown()
        access.setLevel(previous)


if __name__ == "__main__":  # pragma: no cover - a shortcut for `./pants run benchmarks:run -- --only fastapi`
    from commons_bench.__main__ import main

    raise SystemExit(main(["--only", "fastapi", *sys.argv[1:]]))
