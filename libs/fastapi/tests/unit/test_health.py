"""Liveness and readiness routes."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi import FastAPI

from internal_base.health import HealthRegistry, default_registry
from internal_fastapi import FastAPISettings, health_router, install

ClientFactory = Callable[[FastAPI], httpx.AsyncClient]


async def _fail() -> None:
    raise ConnectionError("db down at postgresql://app:hunter2@db/app")


async def test_ready_is_503_when_a_critical_check_fails(
    app: FastAPI, registry: HealthRegistry, make_client: ClientFactory
) -> None:
    """An unhealthy critical check makes readiness 503 and names the check; secrets are masked."""
    registry.register("db", _fail)
    async with make_client(app) as client:
        response = await client.get("/health/ready")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unhealthy"
    assert body["checks"][0]["name"] == "db"
    assert "hunter2" not in response.text
    assert response.headers["cache-control"] == "no-store"


async def test_live_runs_only_liveness_checks(
    app: FastAPI, registry: HealthRegistry, make_client: ClientFactory
) -> None:
    """A failing readiness-only check leaves liveness healthy (200)."""
    registry.register("db", _fail)
    registry.register("loop", lambda: True, liveness=True)
    async with make_client(app) as client:
        live = await client.get("/health/live")
    assert live.status_code == 200
    assert [check["name"] for check in live.json()["checks"]] == ["loop"]


async def test_degraded_is_still_ready(
    app: FastAPI, registry: HealthRegistry, make_client: ClientFactory
) -> None:
    """A failing non-critical check degrades the report but keeps status 200."""
    registry.register("optional", _fail, critical=False)
    async with make_client(app) as client:
        response = await client.get("/health/ready")
    assert (response.status_code, response.json()["status"]) == (200, "degraded")


async def test_router_defaults_to_the_process_registry(make_client: ClientFactory) -> None:
    """Without a registry the router reports ``default_registry()`` under a custom prefix."""
    app = FastAPI()
    app.include_router(health_router(prefix="/_probe"))
    default_registry().register("fastapi-test-check", _fail)
    try:
        async with make_client(app) as client:
            response = await client.get("/_probe/ready")
    finally:
        default_registry().unregister("fastapi-test-check")
    assert response.status_code == 503


async def test_install_uses_the_configured_prefix(
    registry: HealthRegistry, make_client: ClientFactory
) -> None:
    """``health_prefix`` moves both probes."""
    app = FastAPI()
    install(app, FastAPISettings(health_prefix="/ops"), health_registry=registry)
    async with make_client(app) as client:
        moved = await client.get("/ops/live")
        old = await client.get("/health/live")
    assert (moved.status_code, old.status_code) == (200, 404)
