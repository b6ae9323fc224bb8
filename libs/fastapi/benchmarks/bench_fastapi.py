"""Requests per second through the full commons stack vs a bare FastAPI app (same ASGI transport).

Each function returns ``{"operation", "raw", "commons", "unit", "target"}``; a harness calls
``benchmarks()`` and runs them. Nothing here runs at import.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI

from internal_base.health import HealthRegistry
from internal_fastapi import FastAPISettings, install

Result = dict[str, Any]


def _app(commons: bool) -> FastAPI:
    app = FastAPI()
    if commons:
        install(app, FastAPISettings(), health_registry=HealthRegistry())

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    return app


async def _rate(app: FastAPI, requests: int) -> float:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for index in range(50):  # warm-up
            await client.get(f"/items/{index}")
        best = 0.0
        for _ in range(3):
            started = time.perf_counter()
            for index in range(requests):
                await client.get(f"/items/{index}?token=x", headers={"X-Correlation-ID": "bench"})
            best = max(best, requests / (time.perf_counter() - started))
    return best


def bench_request_throughput(requests: int = 2_000) -> Result:
    """GET with a path param through correlation + access log + error middleware vs no middleware."""
    access = logging.getLogger("internal_fastapi.access")
    previous = access.level
    access.setLevel(logging.WARNING)  # measure the middleware, not the log handler's I/O
    try:
        raw = asyncio.run(_rate(_app(commons=False), requests))
        commons = asyncio.run(_rate(_app(commons=True), requests))
    finally:
        access.setLevel(previous)
    return {
        "operation": "GET /items/{id} via httpx.ASGITransport",
        "raw": raw,
        "commons": commons,
        "unit": "requests/s",
        "target": "commons >= 0.8 * raw",
    }


def benchmarks() -> list[Callable[[], Result]]:
    """The benchmark functions, for the harness."""
    return [bench_request_throughput]


if __name__ == "__main__":
    for bench in benchmarks():
        print(bench())
