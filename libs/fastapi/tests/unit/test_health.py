"""Liveness and readiness routes."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi import Depends, FastAPI, Request

from internal_base.health import HealthRegistry, default_registry
from internal_fastapi import BearerAuth, FastAPISettings, health_router, install

ClientFactory = Callable[[FastAPI], httpx.AsyncClient]


async def _fail() -> None:
    raise ConnectionError("db down at postgresql://app:hunter2@db/app")


def _detailed(registry: HealthRegistry) -> FastAPI:
    app = FastAPI()
    install(app, FastAPISettings(health_details=True), health_registry=registry)
    return app


async def test_ready_is_503_when_a_critical_check_fails(
    registry: HealthRegistry, make_client: ClientFactory
) -> None:
    """An unhealthy critical check makes readiness 503 and names the check; secrets are masked."""
    registry.register("db", _fail)
    async with make_client(_detailed(registry)) as client:
        response = await client.get("/health/ready")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unhealthy"
    assert body["checks"][0]["name"] == "db"
    assert "hunter2" not in response.text
    assert response.headers["cache-control"] == "no-store"


async def test_live_runs_only_liveness_checks(registry: HealthRegistry, make_client: ClientFactory) -> None:
    """A failing readiness-only check leaves liveness healthy (200)."""
    registry.register("db", _fail)
    registry.register("loop", lambda: True, liveness=True)
    async with make_client(_detailed(registry)) as client:
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


async def _leaky() -> None:
    raise ConnectionError('role "svc_orders" does not exist at db-7.prod.internal:5432/orders_db')


async def test_default_body_is_status_only(
    app: FastAPI, registry: HealthRegistry, make_client: ClientFactory
) -> None:
    """By default both probes return only the overall status: no check names, errors or details."""
    registry.register("db-7.prod.internal", _leaky)
    registry.register("loop", lambda: {"host": "db-7.prod.internal"}, liveness=True)
    async with make_client(app) as client:
        ready = await client.get("/health/ready")
        live = await client.get("/health/live")
    assert (ready.status_code, ready.json()) == (503, {"status": "unhealthy"})
    assert (live.status_code, live.json()) == (200, {"status": "healthy"})
    assert [name in ready.text + live.text for name in ("svc_orders", "prod.internal", "orders_db")] == [
        False
    ] * 3


async def _ops_only(token: str) -> str | None:
    return "ops" if token == "ops-token" else None


async def test_details_behind_a_dependency(registry: HealthRegistry, make_client: ClientFactory) -> None:
    """With ``details=BearerAuth(..., optional=True)``, anonymous callers get the status, ops the report."""
    app = FastAPI()
    install(
        app, FastAPISettings(), health_registry=registry, health_details=BearerAuth(_ops_only, optional=True)
    )
    registry.register("db", _leaky)
    async with make_client(app) as client:
        anonymous = await client.get("/health/ready")
        ops = await client.get("/health/ready", headers={"Authorization": "Bearer ops-token"})
        wrong = await client.get("/health/ready", headers={"Authorization": "Bearer guess"})
    assert (anonymous.status_code, anonymous.json()) == (503, {"status": "unhealthy"})
    assert (ops.status_code, [c["name"] for c in ops.json()["checks"]]) == (503, ["db"])
    assert "svc_orders" in ops.json()["checks"][0]["error"]
    assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_token")


async def test_details_accepts_a_depends_object(registry: HealthRegistry, make_client: ClientFactory) -> None:
    """``details=Depends(fn)`` works like ``details=fn``; a falsy result keeps the body status-only."""

    def internal_caller(request: Request) -> bool:
        return request.headers.get("x-internal") == "yes"

    app = FastAPI()
    app.include_router(health_router(registry, details=Depends(internal_caller)))
    registry.register("db", _leaky)
    async with make_client(app) as client:
        outside = await client.get("/health/ready")
        inside = await client.get("/health/ready", headers={"x-internal": "yes"})
    assert (outside.json(), inside.json()["checks"][0]["name"]) == ({"status": "unhealthy"}, "db")
