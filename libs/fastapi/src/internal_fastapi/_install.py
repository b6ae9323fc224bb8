"""``install``: wire the middleware, the exception handlers and the health routes in order."""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI

from internal_base.errors import ConfigurationError
from internal_base.health import HealthRegistry
from internal_fastapi._admission import Admission
from internal_fastapi._config import FastAPISettings
from internal_fastapi._errors import ErrorMapper, default_error_mapper, install_exception_handlers
from internal_fastapi._health import HealthDetails, add_health_routes, probe_paths
from internal_fastapi._pagination import install_cursor_codec
from internal_fastapi._stack import CommonsMiddleware
from internal_fastapi._telemetry import instrument_installed, telemetry_switch

__all__ = ["install"]

_INSTALLED: Final = "commons_installed"


def install(
    app: FastAPI,
    settings: FastAPISettings | None = None,
    *,
    health_registry: HealthRegistry | None = None,
    mapper: ErrorMapper | None = None,
    health_details: HealthDetails | None = None,
) -> ErrorMapper:
    """Add the commons middleware, problem+json handlers and health routes to ``app``.

    One pure ASGI middleware that does, in this order, what :class:`CorrelationIdMiddleware`
    (IDs and trace context for everything below, headers on every response),
    :class:`RequestLoggingMiddleware` (sees the final status, 500s included) and
    :class:`ErrorHandlingMiddleware` (unhandled exceptions → 500 problem) do → FastAPI's
    exception handlers → routes. With ``settings.telemetry`` (or after
    :func:`internal_fastapi.telemetry.instrument`) the app gets a server span per request
    around all of it. Over ``settings.max_concurrent_requests`` requests in flight, a new one is
    answered at once with a problem+json 503 ``overloaded`` (health probes are never refused).
    Call it once, before the app starts serving.

    Args:
        app: The application.
        settings: Defaults to ``FastAPISettings.load()`` (env ``COMMONS_FASTAPI_*``, YAML ``fastapi``).
        health_registry: Registry behind ``/health/*`` (default: the process-wide one).
        mapper: Exception → status rules (default: :func:`default_error_mapper`).
        health_details: Who sees full health reports (see :func:`health_router`); default
            ``settings.health_details`` (False: a status-only body for everyone).

    Returns:
        The app's :class:`ErrorMapper`; register your own exception types on it.

    Raises:
        ConfigurationError: ``install`` was already called on this app.
    """
    if getattr(app.state, _INSTALLED, False):
        raise ConfigurationError("internal_fastapi.install() was already called on this app")
    settings = settings if settings is not None else FastAPISettings.load()
    mapper = (
        mapper if mapper is not None else default_error_mapper(problem_type_base=settings.problem_type_base)
    )
    install_exception_handlers(app, mapper)
    switch = telemetry_switch(app)
    switch.in_stack = True  # the commons middleware records the server span and metrics
    # The three middleware in one pure ASGI layer (CommonsMiddleware): the same behaviour, a
    # third of the per-request cost. add_middleware prepends: it wraps the user's own middleware
    # added before install(); those added after wrap it.
    app.add_middleware(
        CommonsMiddleware,
        mapper=mapper,
        trust_incoming=settings.trust_incoming_ids,
        max_length=settings.max_id_length,
        logger=settings.access_logger if settings.log_requests else None,
        exclude_paths=tuple(settings.log_exclude_paths),
        telemetry=switch,
        admission=Admission(
            settings.max_concurrent_requests,
            retry_after=settings.overload_retry_after,
            exempt_paths=_health_paths(settings),
        ),
    )
    if settings.health_enabled:
        details = health_details if health_details is not None else settings.health_details
        add_health_routes(
            app.router,
            health_registry,
            prefix=settings.health_prefix,
            include_in_schema=False,
            details=details,
        )
    install_cursor_codec(app.state, settings.cursor_secret)
    app.state.commons_settings = settings
    setattr(app.state, _INSTALLED, True)
    instrument_installed(app, enabled=settings.telemetry)
    return mapper


def _health_paths(settings: FastAPISettings) -> tuple[str, ...]:
    # Probes are never shed: a replica that is busy, not broken, must stay in rotation.
    return probe_paths(settings.health_prefix) if settings.health_enabled else ()
