"""Readiness over real HTTP with real checks: anonymous bodies name no host, user or database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from internal_base.health import HealthRegistry
from internal_cache import CacheClient, CacheSettings
from internal_fastapi import BearerAuth, FastAPISettings, install
from internal_rdbms import Database, RdbmsSettings

GHOST_USER = "ghost_user_7f3a"
GHOST_DB = "ghost_db_7f3a"


async def _ops(token: str) -> str | None:
    return "ops" if token == "ops-token" else None


def _build(postgres_url: str, registry: HealthRegistry) -> FastAPI:
    """An app whose readiness runs a healthy database, a missing role, a missing db and a dead Redis."""
    server = urlsplit(postgres_url)
    host = f"{server.hostname}:{server.port or 5432}"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        up = Database(  # a generous timeout: "healthy" must hold on a busy machine
            RdbmsSettings(url=postgres_url, health_check_name="main", health_check_timeout=30),
            health_registry=registry,
        )
        no_role = Database(
            RdbmsSettings(url=f"postgresql://{GHOST_USER}@{host}/postgres", health_check_name="users"),
            health_registry=registry,
        )
        no_db = Database(
            RdbmsSettings(url=f"postgresql://postgres@{host}/{GHOST_DB}", health_check_name="orders"),
            health_registry=registry,
        )
        cache = CacheClient(CacheSettings(url="redis://localhost:1/0"), health_registry=registry)
        async with up, no_role, no_db, cache:
            yield

    app = FastAPI(lifespan=lifespan)
    install(
        app,
        FastAPISettings(),
        health_registry=registry,
        health_details=BearerAuth(_ops, optional=True),
    )
    return app


@pytest.fixture(scope="module")
def base_url(serve_asgi: Callable[..., str], postgres_url: str) -> str:
    """The app served by uvicorn."""
    return serve_asgi(_build(postgres_url, HealthRegistry(cache_ttl=0)))


@pytest.fixture()
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A real HTTP client (generous timeout: the dead Redis check waits for its own timeout)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        yield http


async def test_anonymous_readiness_names_nothing_internal(
    client: httpx.AsyncClient, postgres_url: str
) -> None:
    """The anonymous body is the overall status only, without the names the checks' messages contain."""
    response = await client.get("/health/ready")
    host = urlsplit(postgres_url).hostname or "127.0.0.1"
    leaked = [
        name
        for name in (GHOST_USER, GHOST_DB, "localhost", host, "postgres", "redis")
        if name in response.text
    ]
    assert (response.status_code, response.json(), leaked) == (503, {"status": "unhealthy"}, [])


async def test_authorised_readiness_shows_the_real_errors(client: httpx.AsyncClient) -> None:
    """An authorised caller sees every check, and the real messages do name the internals."""
    response = await client.get("/health/ready", headers={"Authorization": "Bearer ops-token"})
    checks = {check["name"]: check for check in response.json()["checks"]}
    assert {name: check["status"] for name, check in checks.items()} == {
        "main": "healthy",
        "users": "unhealthy",
        "orders": "unhealthy",
        "redis": "unhealthy",
    }
    assert GHOST_USER in checks["users"]["error"]
    assert GHOST_DB in checks["orders"]["error"]
