"""Hold an app-scoped client for the app's lifetime, around the app's own lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI

from internal_base.errors import ConfigurationError

__all__ = ["hold_for_lifespan"]


def hold_for_lifespan(
    app: FastAPI, state_key: str, open_client: Callable[[], AbstractAsyncContextManager[Any]], *, name: str
) -> None:
    """Enter ``open_client()`` when ``app`` starts, store it as ``app.state.<state_key>``, exit it at stop.

    Wrapping ``app.router.lifespan_context`` (rather than adding startup/shutdown handlers, which
    Starlette ignores when the app has a ``lifespan``) works with and without the app's own
    lifespan, and that lifespan can use the client both when the app starts and when it stops.
    Every commons client is an async context manager, so one shape fits them all.

    Raises:
        ConfigurationError: ``name`` (the installing function) was already called for this app.
    """
    marker = f"{state_key}_held"
    if getattr(app.state, marker, False):
        raise ConfigurationError(f"{name}() was already called on this app")
    setattr(app.state, marker, True)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(asgi_app: Any) -> AsyncIterator[Any]:
        async with open_client() as client:
            setattr(app.state, state_key, client)
            try:
                async with inner(asgi_app) as state:
                    yield state
            finally:
                setattr(app.state, state_key, None)

    app.router.lifespan_context = lifespan
