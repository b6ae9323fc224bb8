"""Shared fixtures: the internal_testing plugin and an httpx client factory over ASGITransport."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from starlette.middleware import Middleware

from internal_base.health import HealthRegistry
from internal_fastapi import (
    CommonsMiddleware,
    CorrelationIdMiddleware,
    ErrorHandlingMiddleware,
    FastAPISettings,
    RequestLoggingMiddleware,
    install,
)

pytest_plugins = ["internal_testing.plugin"]

ClientFactory = Callable[[FastAPI], httpx.AsyncClient]


@pytest.fixture()
def make_client() -> ClientFactory:
    """A factory of in-process clients: ``async with make_client(app) as client``."""

    def make(app: FastAPI) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")

    return make


@pytest.fixture()
def registry() -> HealthRegistry:
    """A private health registry without caching."""
    return HealthRegistry(cache_ttl=0)


def separate_layers(app: FastAPI) -> FastAPI:
    """``app`` (installed) with ``CommonsMiddleware`` replaced by the three public middleware it merges."""
    [commons] = [entry for entry in app.user_middleware if cast(object, entry.cls) is CommonsMiddleware]
    options: dict[str, Any] = dict(commons.kwargs)
    layers = [
        Middleware(
            CorrelationIdMiddleware,
            trust_incoming=options["trust_incoming"],
            max_length=options["max_length"],
        ),
        Middleware(
            RequestLoggingMiddleware, logger=options["logger"], exclude_paths=options["exclude_paths"]
        ),
        Middleware(ErrorHandlingMiddleware, mapper=options["mapper"]),
    ]
    index = app.user_middleware.index(commons)
    app.user_middleware[index : index + 1] = layers
    return app


@pytest.fixture(params=["one-layer", "three-layers"])
def app(registry: HealthRegistry, request: pytest.FixtureRequest) -> FastAPI:
    """A FastAPI app with the full commons stack installed: as ``install()`` adds it (one layer),
    and as the three public middleware classes stacked by hand (the same behaviour)."""
    application = FastAPI()
    install(application, FastAPISettings(), health_registry=registry)
    return application if request.param == "one-layer" else separate_layers(application)
