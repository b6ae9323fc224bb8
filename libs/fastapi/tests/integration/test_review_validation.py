"""Adversarial review over uvicorn: a 422 for a huge invalid body stays small."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI

from internal_base.health import HealthRegistry
from internal_fastapi import FastAPISettings, install


def _build() -> FastAPI:
    app = FastAPI()
    install(app, FastAPISettings(), health_registry=HealthRegistry(cache_ttl=0))

    @app.post("/numbers")
    async def numbers(body: list[int]) -> int:
        return len(body)

    return app


@pytest.fixture(scope="module")
def base_url(serve_asgi: Callable[..., str]) -> str:
    """One real uvicorn server for the module."""
    return serve_asgi(_build())


@pytest.fixture()
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the real server."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        yield http


async def test_many_invalid_items_give_a_bounded_422(client: httpx.AsyncClient) -> None:
    """50 000 invalid items give a 422 listing at most 50 errors and the total, not a 7 MB body."""
    body = json.dumps(["x"] * 50_000)
    response = await client.post("/numbers", content=body, headers={"content-type": "application/json"})
    problem = response.json()
    assert (response.status_code, len(problem["errors"]), problem["error_count"]) == (422, 50, 50_000)
    assert len(response.content) < 20_000
    assert problem["detail"].startswith("50000 invalid fields: body.0, body.1")


async def test_few_invalid_items_are_all_listed(client: httpx.AsyncClient) -> None:
    """Two invalid items are both listed with an error_count of 2."""
    response = await client.post("/numbers", json=["x", 1, "y"])
    problem = response.json()
    assert [error["field"] for error in problem["errors"]] == ["body.0", "body.2"]
    assert (problem["error_count"], problem["detail"]) == (2, "2 invalid fields: body.0, body.2")
