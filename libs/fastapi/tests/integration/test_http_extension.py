"""HttpClientDep: an app-scoped internal_http client calling a second loopback server, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from internal_base.errors import ConfigurationError
from internal_base.health import HealthRegistry
from internal_fastapi import FastAPISettings, install
from internal_fastapi.extensions.http import (
    HttpClientDep,
    get_http_client,
    install_http_client,
    setup_http_client,
)
from internal_http import HttpSettings, create_client


@pytest.fixture(scope="module")
def downstream(serve_asgi: Callable[..., str]) -> str:
    """A second server that echoes the correlation and trace headers it received."""
    echo = FastAPI()

    @echo.get("/echo")
    async def headers(request: Request) -> dict[str, str | None]:
        return {
            "correlation_id": request.headers.get("x-correlation-id"),
            "traceparent": request.headers.get("traceparent"),
        }

    return serve_asgi(echo)


def _app(settings: HttpSettings | None = None, **kwargs: Any) -> FastAPI:
    app = FastAPI()
    install(app, FastAPISettings(log_requests=False), health_registry=HealthRegistry())
    install_http_client(app, settings, **kwargs)

    @app.get("/proxy")
    async def proxy(http: HttpClientDep) -> object:
        return (await http.get("/echo")).json()

    return app


async def test_routes_call_downstream_with_the_request_correlation(
    serve_asgi: Callable[..., str], downstream: str
) -> None:
    """The app's client reaches the downstream server and carries the request's correlation ID."""
    app = _app(HttpSettings(base_url=downstream))
    async with httpx.AsyncClient(base_url=serve_asgi(app), timeout=30) as http:
        response = await http.get("/proxy", headers={"X-Correlation-ID": "it-http-42"})
    assert response.status_code == 200
    assert response.json()["correlation_id"] == "it-http-42"


async def test_one_client_per_app_closed_at_shutdown(downstream: str) -> None:
    """The lifespan creates the client once (the same for every request) and closes it at shutdown."""
    app = _app(HttpSettings(base_url=downstream))
    async with app.router.lifespan_context(app):
        client = app.state.commons_http_client
        assert isinstance(client, httpx.AsyncClient)
        assert str(client.base_url).rstrip("/") == downstream
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            response = await http.get("/proxy")
        assert response.json()["correlation_id"] == response.headers["x-correlation-id"]
        closed_while_serving = client.is_closed
    assert (closed_while_serving, client.is_closed) == (False, True)
    assert app.state.commons_http_client is None


async def test_the_apps_own_lifespan_can_use_the_client(downstream: str) -> None:
    """The app's lifespan runs inside the client's: it can call out at startup."""
    seen: list[int] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = app.state.commons_http_client
        seen.append((await client.get("/echo")).status_code)
        yield

    app = FastAPI(lifespan=lifespan)
    install_http_client(app, HttpSettings(base_url=downstream))
    async with app.router.lifespan_context(app):
        pass
    assert seen == [200]


async def test_settings_come_from_the_yaml_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, downstream: str
) -> None:
    """Without settings, the client reads internal_http's settings, YAML file included."""
    config = tmp_path / "service.yaml"
    config.write_text(f"http:\n  base_url: {downstream}\n  headers:\n    X-Service: billing\n")
    monkeypatch.setenv("COMMONS_CONFIG_FILE", str(config))
    app = _app()
    async with app.router.lifespan_context(app):
        client = get_http_client_of(app)
        assert (str(client.base_url).rstrip("/"), client.headers.get("x-service")) == (downstream, "billing")


def get_http_client_of(app: FastAPI) -> httpx.AsyncClient:
    """The client as a route would get it."""
    return get_http_client(Request({"type": "http", "app": app}))


async def test_without_the_lifespan_the_dependency_is_a_configuration_error() -> None:
    """A route served without the lifespan (no client yet) is a 500 configuration_error, no detail."""
    app = _app(HttpSettings(base_url="http://127.0.0.1:9"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        response = await http.get("/proxy")
    assert (response.status_code, response.json()["code"]) == (500, "configuration_error")
    assert "install_http_client" not in response.text


def test_installing_twice_is_refused() -> None:
    """A second install_http_client on one app would create two clients, so it is refused."""
    app = FastAPI()
    install_http_client(app, HttpSettings())
    with pytest.raises(ConfigurationError, match="already called"):
        install_http_client(app, HttpSettings())


async def test_a_client_of_your_own_can_be_handed_over(downstream: str) -> None:
    """``setup_http_client`` serves a client the app's own lifespan creates and closes."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with create_client(HttpSettings(base_url=downstream)) as client:
            setup_http_client(app, client)
            yield

    app = FastAPI(lifespan=lifespan)
    install(app, FastAPISettings(log_requests=False), health_registry=HealthRegistry())

    @app.get("/proxy")
    async def proxy(http: HttpClientDep) -> object:
        return (await http.get("/echo")).json()

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/proxy", headers={"X-Correlation-ID": "own-client"})
    assert response.json()["correlation_id"] == "own-client"


async def test_the_clients_health_check_lives_as_long_as_the_app(downstream: str) -> None:
    """``health_registry=`` gets the client's check when the app starts; it is gone when it stops."""
    registry = HealthRegistry(cache_ttl=0)
    app = _app(HttpSettings(base_url=downstream), health_registry=registry)
    assert registry.names == []
    async with app.router.lifespan_context(app):
        names_while_serving = registry.names
        healthy = (await registry.readiness()).status.value
    assert (len(names_while_serving), healthy, registry.names) == (1, "healthy", [])
