"""A bare FastAPI app against the same app with the commons stack installed, for ``benchmarks/``.

``suite(ctx)`` yields :class:`commons_bench.Benchmark` rows; the harness runs raw and commons
interleaved, with warm-up and medians. Both apps are called in-process through
``httpx.ASGITransport`` (no sockets), so the row measures the middleware, handlers and routing
that :func:`internal_fastapi.install` adds: correlation IDs, the access log, problem+json errors.

Run: ``./pants run benchmarks:run -- --only fastapi``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from commons_bench import BenchContext, Benchmark, Target
from internal_base.health import HealthRegistry
from internal_fastapi import FastAPISettings, install

__all__ = ["suite"]


def _app(commons: bool) -> FastAPI:
    app = FastAPI()
    if commons:
        install(app, FastAPISettings(), health_registry=HealthRegistry())

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    return app


@asynccontextmanager
async def suite(ctx: BenchContext) -> AsyncIterator[list[Benchmark]]:
    """GET with a path parameter through a bare app and through an app with ``install()``."""
    access = logging.getLogger("internal_fastapi.access")
    previous = access.level
    access.setLevel(logging.WARNING)  # measure the middleware, not the log handler's I/O
    raw_client = httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(False)), base_url="http://bench")
    commons_client = httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(True)), base_url="http://bench")
    headers = {"X-Correlation-ID": "bench"}

    async def raw(n: int) -> None:
        for index in range(n):
            response = await raw_client.get(f"/items/{index}?token=x", headers=headers)
            response.raise_for_status()

    async def commons(n: int) -> None:
        for index in range(n):
            response = await commons_client.get(f"/items/{index}?token=x", headers=headers)
            response.raise_for_status()

    try:
        yield [
            Benchmark(
                "GET /items/{id} via httpx.ASGITransport",
                raw=raw,
                commons=commons,
                target=Target.throughput_ratio(0.8),
                ops=300,
                unit="request",
                note="raw: a bare FastAPI app; commons: the same app after install() (access log at WARNING)",
            )
        ]
    finally:
        await raw_client.aclose()
        await commons_client.aclose()
        access.setLevel(previous)


if __name__ == "__main__":  # pragma: no cover - a shortcut for `./pants run benchmarks:run -- --only fastapi`
    from commons_bench.__main__ import main

    raise SystemExit(main(["--only", "fastapi", *sys.argv[1:]]))
