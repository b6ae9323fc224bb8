"""FastAPI integration of ``internal_http``: an app-scoped ``httpx.AsyncClient`` dependency.

Needs the ``internal-fastapi[http]`` extra. The package root never imports this module. (Its imports
of the extra carry ``pants: no-infer-dep`` so that the wheel does not hard-require them.)

:func:`install_http_client` makes the app build one client with :func:`internal_http.create_client`
when it starts and close it when it stops; routes get it with :data:`HttpClientDep`. Every request
it sends carries the current correlation ID and trace context (internal_http's request hook), so a
call made while serving a request continues that request's correlation. Transport errors and
timeouts of the client are 503 problems (see :func:`internal_fastapi.default_error_mapper`).

Example::

    from internal_fastapi.extensions.http import HttpClientDep, install_http_client

    app = FastAPI()
    install(app)
    install_http_client(app)   # settings: HttpSettings.load() (env COMMONS_HTTP_*, YAML http:)

    @app.get("/orders/{order_id}")
    async def order(order_id: int, http: HttpClientDep) -> dict[str, object]:
        return (await http.get(f"/orders/{order_id}")).raise_for_status().json()
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request

from internal_base.errors import ConfigurationError
from internal_base.health import HealthRegistry
from internal_fastapi.extensions._lifespan import hold_for_lifespan

try:
    import httpx  # pants: no-infer-dep

    from internal_http import HttpSettings, create_client  # pants: no-infer-dep
except ImportError as exc:  # pragma: no cover - the extra is in the test environment
    raise ImportError(
        f"internal_fastapi.extensions.http needs internal_http ({exc}); "
        "install the extra: pip install 'internal-fastapi[http]'"
    ) from exc

__all__ = ["HttpClientDep", "get_http_client", "install_http_client", "setup_http_client"]

_STATE_KEY = "commons_http_client"


def install_http_client(
    app: FastAPI,
    settings: HttpSettings | None = None,
    *,
    health_registry: HealthRegistry | None = None,
    **create_client_kwargs: Any,
) -> None:
    """Give ``app`` one ``httpx.AsyncClient``, created when the app starts and closed when it stops.

    The client is ``internal_http.create_client(settings, health_registry=..., **create_client_kwargs)``,
    built in the app's lifespan (around the app's own lifespan, so the client is there when it
    starts and still there while it shuts down).

    Args:
        app: The application.
        settings: None lets internal_http load them (``HttpSettings.load()``: env ``COMMONS_HTTP_*``,
            the ``http`` YAML section).
        health_registry: Where the client registers its readiness check (internal_http's rule:
            the process-wide registry when None and ``settings.health_check`` is on); it is removed
            when the app stops.
        **create_client_kwargs: Passed to ``create_client`` (``auth=``, ``transport=``, ...).

    Raises:
        ConfigurationError: Called twice for the same app.
    """
    hold_for_lifespan(
        app,
        _STATE_KEY,
        lambda: create_client(settings, health_registry=health_registry, **create_client_kwargs),
        name="install_http_client",
    )


def setup_http_client(app: FastAPI, client: httpx.AsyncClient) -> None:
    """Make ``client`` (one you create and close yourself) available to :func:`get_http_client`."""
    setattr(app.state, _STATE_KEY, client)


def get_http_client(request: Request) -> httpx.AsyncClient:
    """Dependency: the app's client (from :func:`install_http_client` or :func:`setup_http_client`).

    Raises:
        ConfigurationError: No client: neither function was called, or the app's lifespan did not
            run (e.g. uvicorn with ``--lifespan off``), or the app has stopped.
    """
    client = getattr(request.app.state, _STATE_KEY, None)
    if not isinstance(client, httpx.AsyncClient):
        raise ConfigurationError(
            "no HTTP client: call internal_fastapi.extensions.http.install_http_client() "
            "and run the app with its lifespan"
        )
    return client


HttpClientDep = Annotated[httpx.AsyncClient, Depends(get_http_client)]
"""The app-scoped ``httpx.AsyncClient``: ``async def route(http: HttpClientDep)``."""
