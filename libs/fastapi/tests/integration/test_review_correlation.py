"""Adversarial review over uvicorn: a correlation ID sent twice with different values is not trusted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI

from internal_base.context import get_correlation_id, get_request_id
from internal_base.health import HealthRegistry
from internal_fastapi import FastAPISettings, install


def _build() -> FastAPI:
    app = FastAPI()
    install(app, FastAPISettings(), health_registry=HealthRegistry(cache_ttl=0))

    @app.get("/ids")
    async def ids() -> dict[str, str | None]:
        return {"correlation_id": get_correlation_id(), "request_id": get_request_id()}

    return app


@pytest.fixture(scope="module")
def base_url(serve_asgi: Callable[..., str]) -> str:
    """One real uvicorn server for the module."""
    return serve_asgi(_build())


@pytest.fixture()
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the real server."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        yield http


@pytest.mark.parametrize("header", ["X-Correlation-ID", "X-Request-ID"])
async def test_conflicting_duplicate_ids_are_replaced(client: httpx.AsyncClient, header: str) -> None:
    """Two different values of one ID header (a proxy's and a client's) are both refused."""
    response = await client.get("/ids", headers=[(header, "from-proxy"), (header, "forged-by-client")])
    echoed = response.headers[header]
    assert echoed not in ("from-proxy", "forged-by-client")
    assert echoed in response.json().values()


async def test_repeated_identical_id_is_kept(client: httpx.AsyncClient) -> None:
    """The same valid correlation ID sent twice is still reused."""
    response = await client.get(
        "/ids", headers=[("X-Correlation-ID", "abc-1"), ("X-Correlation-ID", "abc-1")]
    )
    assert (response.headers["X-Correlation-ID"], response.json()["correlation_id"]) == ("abc-1", "abc-1")
