"""A bare FastAPI app against the same app with the commons stack installed, for ``benchmarks/``.

``suite(ctx)`` yields :class:`commons_bench.Benchmark` rows; the harness runs raw and commons
interleaved, with warm-up and medians. The judged rows call each app as a load balancer would:
uvicorn (httptools, as ``uvicorn[standard]`` runs) serving it on a loopback port, one keep-alive
``httpx.AsyncClient`` per app, one request at a time, so "per request" is the whole server path:
sockets, HTTP parsing, the ASGI app and the response. Server and client share the harness's event
loop (see ``_serve``), and every row counts the CPU time of this process (user + system, all its
threads: the span processor's export thread included) rather than wall time: on a busy shared
machine, waiting for a core to be scheduled swamped wall-time rows (IQRs of 0.8..1.6x), while the
CPU spent per request is what the server pays for it, and what bounds its throughput.
The in-process rows (``httpx.ASGITransport``, no sockets) isolate what the middleware and the
telemetry add to the app itself; they are informational.

Telemetry is set up as a service runs it (``configure_telemetry(exporter="otlp")``): an SDK
``TracerProvider`` whose spans go through a ``BatchSpanProcessor`` (export happens in its own
thread, in batches), here to an exporter that drops them, and a ``MeterProvider`` with a reader,
so every measurement is aggregated as in production. The raw apps are bare ``FastAPI`` apps with
FastAPI's own telemetry off, so no row depends on whether another suite of the run installed
OpenTelemetry globals.

Run: ``./pants run benchmarks:run -- --only fastapi``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from commons_bench import BenchContext, Benchmark, ServiceUnavailable, Target
from internal_base.health import HealthRegistry
from internal_fastapi import FastAPISettings, install
from internal_fastapi.telemetry import instrument, uninstrument

__all__ = ["suite"]

_NATIVE_OFF: Any = {"tracing": False, "metrics": False, "logs": False}


class _DroppingExporter(SpanExporter):
    """Accepts every batch and sends nothing (a real exporter's network I/O is off the request path)."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _providers() -> tuple[TracerProvider, MeterProvider]:
    """Providers of this suite only (not the process-wide ones: other suites stay uninstrumented)."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(_DroppingExporter()))
    return tracer_provider, MeterProvider(metric_readers=[InMemoryMetricReader()])


def _app(*, commons: bool) -> FastAPI:
    app = FastAPI(telemetry=_NATIVE_OFF)
    if commons:
        install(app, FastAPISettings(), health_registry=HealthRegistry())

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    return app


# uvicorn[standard]'s parser when it is importable (services run it), else the pure-Python h11; the
# row notes say which ran (a Pants pex with two uvicorn requirements may leave httptools inactive).
HTTP_PARSER = "httptools" if importlib.util.find_spec("httptools") else "h11"


@asynccontextmanager
async def _serve(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn (httptools) on a free 127.0.0.1 port, in this event loop; yield its URL.

    Client and server share one thread and loop: each request still crosses real sockets and
    uvicorn's HTTP parser, but no thread hand-off (and no OS scheduling delay on a busy machine)
    sits between them, so rounds measure work, not wake-up latency.
    """
    # IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only when the listener says so.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, http=HTTP_PARSER, log_level="warning", access_log=False, lifespan="off", backlog=1024
    )
    server = uvicorn.Server(config)
    # serve() would take over SIGINT/SIGTERM in the main thread for as long as the suite runs.
    serve = getattr(server, "_serve", server.serve)
    task = asyncio.create_task(serve(sockets=[sock]))
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while not server.started:
            if task.done() or asyncio.get_running_loop().time() > deadline:
                raise ServiceUnavailable(f"uvicorn did not start on 127.0.0.1:{sock.getsockname()[1]}")
            await asyncio.sleep(0.005)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


def _runner(client: httpx.AsyncClient) -> Callable[[int], Awaitable[float]]:
    """``n`` sequential GETs; returns the CPU seconds this process spent on them (see the module doc)."""
    headers = {"X-Correlation-ID": "bench"}

    async def run(n: int) -> float:
        started = time.process_time()
        for index in range(n):
            response = await client.get(f"/items/{index}?token=x", headers=headers)
            response.raise_for_status()
        return time.process_time() - started

    return run


def _contrib_instrumented(tracer_provider: TracerProvider, meter_provider: MeterProvider) -> FastAPI:
    """A bare app with OpenTelemetry's FastAPI instrumentor (stable HTTP semconv, no send/receive spans)."""
    from opentelemetry.instrumentation import _semconv
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    stability = _semconv._OpenTelemetrySemanticConventionStability
    stability._initialize()  # type: ignore[no-untyped-call]
    with stability._lock:  # OTEL_SEMCONV_STABILITY_OPT_IN=http: the stable names, as instrument() emits
        stability._OTEL_SEMCONV_STABILITY_SIGNAL_MAPPING[_semconv._OpenTelemetryStabilitySignalType.HTTP] = (
            _semconv._StabilityMode.HTTP
        )
    app = _app(commons=False)
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=tracer_provider, meter_provider=meter_provider, exclude_spans=["receive", "send"]
    )
    return app


@asynccontextmanager
async def suite(ctx: BenchContext) -> AsyncIterator[list[Benchmark]]:
    """GET with a path parameter: bare app vs install(), telemetry off and on, over uvicorn and in-process."""
    access = logging.getLogger("internal_fastapi.access")
    previous = access.level
    access.setLevel(logging.WARNING)  # measure the middleware, not the log handler's I/O
    tracer_provider, meter_provider = _providers()
    bare, plain, traced = _app(commons=False), _app(commons=True), _app(commons=True)
    instrument(traced, tracer_provider=tracer_provider, meter_provider=meter_provider)
    contrib = _contrib_instrumented(tracer_provider, meter_provider)
    async with AsyncExitStack() as stack:
        served: dict[str, Callable[[int], Awaitable[float]]] = {}
        in_process: dict[str, Callable[[int], Awaitable[float]]] = {}
        for name, app in (("bare", bare), ("plain", plain), ("traced", traced), ("contrib", contrib)):
            url = await stack.enter_async_context(_serve(app))
            served[name] = _runner(await stack.enter_async_context(httpx.AsyncClient(base_url=url)))
            transport = httpx.ASGITransport(app=app)
            client = httpx.AsyncClient(transport=transport, base_url="http://bench")
            in_process[name] = _runner(await stack.enter_async_context(client))
        stack.callback(access.setLevel, previous)
        stack.callback(meter_provider.shutdown)
        stack.callback(tracer_provider.shutdown)
        stack.callback(uninstrument, traced)
        served_note = (
            f"CPU time (process, user + system) per request, client included; uvicorn ({HTTP_PARSER}) on "
            "127.0.0.1 in this process and event loop, one keep-alive httpx client per app, sequential "
            "requests; raw: a bare FastAPI app (its own telemetry off); access log at WARNING"
        )
        telemetry_note = (
            "tracing: SDK TracerProvider + BatchSpanProcessor (spans dropped by the exporter); metrics: "
            "MeterProvider + a reader"
        )
        yield [
            Benchmark(
                "GET /items/{id} over uvicorn + httpx, telemetry off",
                raw=served["bare"],
                commons=served["plain"],
                target=Target.cost_ratio(1.10),
                ops=100,
                rounds=31,
                unit="request",
                note=f"{served_note}; commons: the same app after install()",
            ),
            Benchmark(
                "GET /items/{id} over uvicorn + httpx, tracing + metrics on",
                raw=served["bare"],
                commons=served["traced"],
                target=Target.cost_ratio(1.15),
                ops=100,
                rounds=31,
                unit="request",
                note=f"commons: install() + internal_fastapi.telemetry.instrument(app); {telemetry_note}",
            ),
            Benchmark(
                "GET /items/{id} over uvicorn + httpx, telemetry on: commons vs OpenTelemetry's instrumentor",
                raw=served["contrib"],
                commons=served["traced"],
                target=None,
                ops=100,
                rounds=15,
                unit="request",
                note="raw: a bare app with opentelemetry-instrumentation-fastapi (the same providers); "
                "commons: install() + instrument(app)",
            ),
            Benchmark(
                "GET /items/{id} in-process (httpx.ASGITransport), telemetry off",
                raw=in_process["bare"],
                commons=in_process["plain"],
                target=None,
                ops=300,
                unit="request",
                note="no sockets: what install() adds to the app itself",
            ),
            Benchmark(
                "GET /items/{id} in-process (httpx.ASGITransport), tracing + metrics on",
                raw=in_process["bare"],
                commons=in_process["traced"],
                target=None,
                ops=300,
                unit="request",
                note="no sockets: what install() + instrument(app) add to the app itself (span + 2 metrics)",
            ),
            Benchmark(
                "GET /items/{id} in-process: OpenTelemetry's FastAPI instrumentor on a bare app",
                raw=in_process["bare"],
                commons=in_process["contrib"],
                target=None,
                ops=300,
                unit="request",
                note="for comparison: the contrib instrumentor alone, what instrument() used before",
            ),
        ]


if __name__ == "__main__":  # pragma: no cover - a shortcut for `./pants run benchmarks:run -- --only fastapi`
    from commons_bench.__main__ import main

    raise SystemExit(main(["--only", "fastapi", *sys.argv[1:]]))
