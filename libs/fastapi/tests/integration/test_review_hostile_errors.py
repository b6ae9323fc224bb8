"""Adversarial review over uvicorn: errors whose attributes or text break are still problem responses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI

from internal_base.cursor import InvalidCursorError
from internal_base.errors import CommonsError
from internal_base.health import HealthRegistry
from internal_fastapi import FastAPISettings, NotFoundError, install


class _BrokenRetryAfter(CommonsError, ConnectionError):
    @property
    def retry_after(self) -> float:
        raise RuntimeError("retry_after looked up a closed breaker at postgresql://svc:hunter2@db/x")


class _BrokenText(InvalidCursorError):
    def __str__(self) -> str:
        raise RuntimeError("cannot render postgresql://svc:hunter2@db/x")


def _build() -> FastAPI:
    app = FastAPI()
    install(app, FastAPISettings(), health_registry=HealthRegistry(cache_ttl=0))

    @app.get("/broken-retry-after")
    async def broken_retry_after() -> None:
        raise _BrokenRetryAfter("down")

    @app.get("/broken-text")
    async def broken_text() -> None:
        raise _BrokenText()

    @app.get("/clashing-extension")
    async def clashing_extension() -> None:
        raise NotFoundError("no order 7", status=200, correlation_id="forged", order=7)

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


async def test_unavailable_error_with_a_failing_retry_after_is_a_503(client: httpx.AsyncClient) -> None:
    """An unavailable error whose retry_after raises is a 503 problem without Retry-After."""
    response = await client.get("/broken-retry-after")
    assert (response.status_code, response.headers["content-type"]) == (503, "application/problem+json")
    assert "retry-after" not in response.headers
    assert "hunter2" not in response.text


async def test_exposed_error_whose_text_fails_is_still_its_problem(client: httpx.AsyncClient) -> None:
    """A cursor error whose str() raises is a 400 invalid_cursor problem without a detail."""
    response = await client.get("/broken-text")
    problem = response.json()
    assert (response.status_code, problem["code"], problem.get("detail")) == (400, "invalid_cursor", None)
    assert "X-Correlation-ID" in response.headers


async def test_extensions_cannot_overwrite_problem_members(client: httpx.AsyncClient) -> None:
    """ApiError extensions named like problem members are dropped: still the 404, the real correlation_id."""
    response = await client.get("/clashing-extension")
    problem = response.json()
    assert (response.status_code, problem["status"], problem["order"]) == (404, 404, 7)
    assert problem["correlation_id"] == response.headers["X-Correlation-ID"]
