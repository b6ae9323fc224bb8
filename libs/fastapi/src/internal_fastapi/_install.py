"""``install``: wire the middleware, the exception handlers and the health routes in order."""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI

from internal_base.errors import ConfigurationError
from internal_base.health import HealthRegistry
from internal_fastapi._config import FastAPISettings
from internal_fastapi._errors import ErrorMapper, default_error_mapper, install_exception_handlers
from internal_fastapi._health import HealthDetails, health_router
from internal_fastapi._middleware import (
    CorrelationIdMiddleware,
    ErrorHandlingMiddleware,
    RequestLoggingMiddleware,
)
from internal_fastapi._pagination import install_cursor_codec

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

    Middleware order, outermost first: :class:`CorrelationIdMiddleware` (IDs and trace
    context for everything below, headers on every response) → :class:`RequestLoggingMiddleware`
    (sees the final status, 500s included) → :class:`ErrorHandlingMiddleware` (unhandled
    exceptions → 500 problem) → FastAPI's exception handlers → routes. Call it once, before the
    app starts serving.

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
    # add_middleware prepends: the last one added is the outermost.
    app.add_middleware(ErrorHandlingMiddleware, mapper=mapper)
    if settings.log_requests:
        app.add_middleware(
            RequestLoggingMiddleware,
            logger=settings.access_logger,
            exclude_paths=tuple(settings.log_exclude_paths),
        )
    app.add_middleware(
        CorrelationIdMiddleware,
        trust_incoming=settings.trust_incoming_ids,
        max_length=settings.max_id_length,
    )
    if settings.health_enabled:
        details = health_details if health_details is not None else settings.health_details
        app.include_router(health_router(health_registry, prefix=settings.health_prefix, details=details))
    install_cursor_codec(app.state, settings.cursor_secret)
    app.state.commons_settings = settings
    setattr(app.state, _INSTALLED, True)
    return mapper
