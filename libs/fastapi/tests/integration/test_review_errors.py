"""Adversarial review over uvicorn: errors inside task groups, absurd retry times, bounded access lines."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI, HTTPException

from internal_base.errors import CircuitOpenError
from internal_base.health import HealthRegistry
from internal_fastapi import FastAPISettings, NotFoundError, TooManyRequestsError, install

SECRET_DSN = "postgresql://svc:hunter2@db.internal:5432/payments"


async def _fail_in_group(*errors: Exception) -> None:
    async def fail(error: Exception) -> None:
        raise error

    async with asyncio.TaskGroup() as group:
        for error in errors:
            group.create_task(fail(error))


def _build() -> FastAPI:
    app = FastAPI()
    install(app, FastAPISettings(), health_registry=HealthRegistry(cache_ttl=0))

    @app.get("/group/unavailable")
    async def group_unavailable() -> None:
        await _fail_in_group(CircuitOpenError(f"breaker for {SECRET_DSN}", retry_after=2.5))

    @app.get("/group/http-404")
    async def group_http_404() -> None:
        await _fail_in_group(HTTPException(404, "no such order"))

    @app.get("/group/api-404")
    async def group_api_404() -> None:
        await _fail_in_group(NotFoundError("no such order"))

    @app.get("/group/mixed")
    async def group_mixed() -> None:
        await _fail_in_group(NotFoundError("no such order"), RuntimeError(SECRET_DSN))

    @app.get("/retry/{value}")
    async def retry(value: float) -> None:
        raise CircuitOpenError("breaker", retry_after=value)

    @app.get("/throttled/{value}")
    async def throttled(value: float) -> None:
        raise TooManyRequestsError("slow down", retry_after=value)

    @app.get("/ok/{rest:path}")
    async def ok(rest: str) -> dict[str, int]:
        return {"length": len(rest)}

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


async def test_unavailable_error_inside_a_task_group_is_a_503(client: httpx.AsyncClient) -> None:
    """A TaskGroup's ExceptionGroup holding one unavailable error is that error's 503 with Retry-After."""
    response = await client.get("/group/unavailable")
    assert (response.status_code, response.headers.get("retry-after")) == (503, "3")
    assert response.json()["code"] == "dependency_unavailable"
    assert "hunter2" not in response.text
    assert "db.internal" not in response.text


async def test_http_exception_inside_a_task_group_keeps_its_status(client: httpx.AsyncClient) -> None:
    """An HTTPException raised in a TaskGroup task is its own 404, not a 500."""
    response = await client.get("/group/http-404")
    assert (response.status_code, response.json()["detail"]) == (404, "no such order")


async def test_api_error_inside_a_task_group_keeps_its_status(client: httpx.AsyncClient) -> None:
    """An ApiError raised in a TaskGroup task is its own problem (404 not_found)."""
    response = await client.get("/group/api-404")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


async def test_group_of_different_errors_is_a_500_that_leaks_nothing(client: httpx.AsyncClient) -> None:
    """A group whose errors disagree is a generic 500 revealing none of them."""
    response = await client.get("/group/mixed")
    assert (response.status_code, response.json()["code"]) == (500, "internal_error")
    assert "hunter2" not in response.text
    assert "no such order" not in response.text


@pytest.mark.parametrize("value", ["1e308", "1e12"])
async def test_absurd_retry_after_is_capped(client: httpx.AsyncClient, value: str) -> None:
    """A huge retry_after sends a Retry-After of at most one day, not a 309-digit header."""
    response = await client.get(f"/retry/{value}")
    assert (response.status_code, response.headers.get("retry-after")) == (503, "86400")


@pytest.mark.parametrize(
    ("value", "expected"), [("nan", None), ("inf", None), ("-inf", None), ("-5", "0"), ("1e308", "86400")]
)
async def test_too_many_requests_with_any_retry_after_is_a_429(
    client: httpx.AsyncClient, value: str, expected: str | None
) -> None:
    """TooManyRequestsError with a non-finite/negative/huge retry_after is a 429, sane header or none."""
    response = await client.get(f"/throttled/{value}")
    assert (response.status_code, response.headers.get("retry-after")) == (429, expected)


async def test_overlong_path_is_bounded_in_the_access_log(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A 60 000-character path gives a log line of bounded length that says it was cut."""
    caplog.set_level(logging.INFO, logger="internal_fastapi.access")
    response = await client.get("/ok/" + "a" * 60_000 + "?token=abc&q=" + "b" * 5000)
    assert response.json() == {"length": 60_000}
    deadline = time.monotonic() + 30
    records: list[logging.LogRecord] = []
    while not records and time.monotonic() < deadline:
        records = [r for r in caplog.records if r.name == "internal_fastapi.access"]
        await asyncio.sleep(0.01)
    path = records[0].__dict__["http_path"]
    assert len(path) <= 2100
    assert path.endswith("chars]")
    assert len(records[0].getMessage()) <= 2200
