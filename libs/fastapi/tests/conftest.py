"""Shared fixtures: the internal_testing plugin and an httpx client factory over ASGITransport."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from internal_base.health import HealthRegistry
from internal_fastapi import FastAPISettings, install

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


@pytest.fixture()
def app(registry: HealthRegistry) -> FastAPI:
    """A FastAPI app with the full commons stack installed."""
    application = FastAPI()
    install(application, FastAPISettings(), health_registry=registry)
    return application
