"""Liveness and readiness routes backed by an ``internal_base`` health registry.

Anonymous callers get a status-only body: check messages and details name hosts, users,
databases and queues (``role "app" does not exist``, ``Redis at cache.internal:6379``), which
an attacker may not learn from a public probe. Full reports are opt-in, for everyone or for
the callers a dependency lets through.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, params
from fastapi.responses import JSONResponse

from internal_base.health import HealthRegistry, HealthReport, default_registry

__all__ = ["HealthDetails", "add_health_routes", "health_router", "probe_paths"]

#: Who sees full reports: False (nobody), True (everybody), or a FastAPI dependency (or
#: ``Depends(...)``) whose truthy result shows them, e.g. ``BearerAuth(verifier, optional=True)``.
HealthDetails = bool | Callable[..., Any] | params.Depends


def probe_paths(prefix: str) -> tuple[str, str]:
    """The liveness and readiness paths under ``prefix``."""
    return f"{prefix}/live", f"{prefix}/ready"


def _response(report: HealthReport, detailed: bool) -> JSONResponse:
    body = report.model_dump(mode="json") if detailed else {"status": report.status.value}
    return JSONResponse(body, status_code=report.http_status, headers={"Cache-Control": "no-store"})


def _probe(
    run: Callable[[], Awaitable[HealthReport]], details: HealthDetails
) -> Callable[..., Awaitable[JSONResponse]]:
    if isinstance(details, bool):

        async def fixed() -> JSONResponse:
            return _response(await run(), details)

        return fixed
    gate = details if isinstance(details, params.Depends) else Depends(details)

    async def gated(**values: Any) -> JSONResponse:
        return _response(await run(), bool(values["show"]))

    # A real annotation object: a string annotation could not see the local ``gate``.
    show = inspect.Parameter("show", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[Any, gate])
    gated.__signature__ = inspect.Signature([show], return_annotation=JSONResponse)  # type: ignore[attr-defined]
    return gated


def health_router(
    registry: HealthRegistry | None = None,
    *,
    prefix: str = "/health",
    include_in_schema: bool = False,
    details: HealthDetails = False,
) -> APIRouter:
    """An ``APIRouter`` with ``GET {prefix}/live`` and ``GET {prefix}/ready``.

    Status 200 when healthy or degraded, 503 when unhealthy. Liveness runs only the checks
    registered with ``liveness=True``; readiness runs every check. The body is
    ``{"status": "healthy"}`` unless the caller may see details: then it is the full
    :class:`~internal_base.health.HealthReport` (each check's status, error and details).

    Args:
        registry: The registry to report (default: ``default_registry()``, looked up per request).
        prefix: Path prefix of the two routes.
        include_in_schema: Show the probes in the OpenAPI document.
        details: False (default): status only for everyone. True: full reports for everyone
            (only behind a private network). A dependency: full reports when it returns a
            truthy value; make it return None for anonymous callers (e.g.
            ``BearerAuth(verifier, optional=True)``) so probes without credentials still work.

    Example:
        ``health_router(details=BearerAuth(StaticTokenVerifier({token: "ops"}), optional=True))``
    """
    router = APIRouter(prefix=prefix, include_in_schema=include_in_schema)
    add_health_routes(router, registry, include_in_schema=include_in_schema, details=details)
    return router


def add_health_routes(
    router: APIRouter,
    registry: HealthRegistry | None = None,
    *,
    prefix: str = "",
    include_in_schema: bool = True,
    details: HealthDetails = False,
) -> None:
    """Add the routes of :func:`health_router` to ``router`` itself, under ``prefix``.

    ``install()`` adds them to the app's own router: an included router is one more level that
    FastAPI (0.165+, which keeps included routers nested) walks for every request of the app.
    """

    def current() -> HealthRegistry:
        return registry if registry is not None else default_registry()

    async def liveness() -> HealthReport:
        return await current().liveness()

    async def readiness() -> HealthReport:
        return await current().readiness()

    live, ready = probe_paths(prefix)
    for path, run, summary in (
        (live, liveness, "Liveness probe"),
        (ready, readiness, "Readiness probe"),
    ):
        router.add_api_route(
            path,
            _probe(run, details),
            methods=["GET"],
            summary=summary,
            response_model=None,
            tags=["health"],
            include_in_schema=include_in_schema,
        )
