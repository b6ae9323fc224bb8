"""Liveness and readiness routes backed by an ``internal_base`` health registry."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from internal_base.health import HealthRegistry, HealthReport, default_registry

__all__ = ["health_router"]


def _response(report: HealthReport) -> JSONResponse:
    return JSONResponse(
        report.model_dump(mode="json"),
        status_code=report.http_status,
        headers={"Cache-Control": "no-store"},
    )


def health_router(
    registry: HealthRegistry | None = None,
    *,
    prefix: str = "/health",
    include_in_schema: bool = False,
) -> APIRouter:
    """An ``APIRouter`` with ``GET {prefix}/live`` and ``GET {prefix}/ready``.

    Both return the JSON :class:`~internal_base.health.HealthReport`, with status 200 when
    healthy or degraded and 503 when unhealthy. Liveness runs only the checks registered with
    ``liveness=True``; readiness runs every check.

    Args:
        registry: The registry to report (default: ``default_registry()``, looked up per request).
        prefix: Path prefix of the two routes.
        include_in_schema: Show the probes in the OpenAPI document.
    """
    router = APIRouter(prefix=prefix, tags=["health"], include_in_schema=include_in_schema)

    def current() -> HealthRegistry:
        return registry if registry is not None else default_registry()

    @router.get("/live", summary="Liveness probe", response_model=None)
    async def live() -> JSONResponse:
        return _response(await current().liveness())

    @router.get("/ready", summary="Readiness probe", response_model=None)
    async def ready() -> JSONResponse:
        return _response(await current().readiness())

    return router
