"""FastAPI integration of ``internal_cache``: a client dependency and error mapping.

Needs the ``internal-fastapi[cache]`` extra. The package root never imports this module. (Its imports
of the extra carry ``pants: no-infer-dep`` so that the wheel does not hard-require them.)

Example::

    from internal_cache import CacheClient, CacheSettings
    from internal_fastapi.extensions.cache import CacheDep, setup_cache

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with CacheClient(CacheSettings(url="redis://cache:6379/0")) as cache:
            setup_cache(app, cache)
            yield

    @app.get("/greeting")
    async def greeting(cache: CacheDep) -> dict[str, str]:
        return {"value": await cache.get_value("greeting", "hello")}
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request

from internal_base.errors import ConfigurationError
from internal_fastapi._errors import ErrorMapper, error_mapper, retry_after_header

try:
    from internal_cache import (
        CacheClient,  # pants: no-infer-dep
        CacheError,  # pants: no-infer-dep
        CacheUnavailableError,  # pants: no-infer-dep
        LockAcquireTimeout,  # pants: no-infer-dep
    )
except ImportError as exc:  # pragma: no cover - the extra is in the test environment
    raise ImportError(
        f"internal_fastapi.extensions.cache needs internal_cache ({exc}); "
        "install the extra: pip install 'internal-fastapi[cache]'"
    ) from exc

__all__ = ["CacheDep", "get_cache", "register_cache_errors", "setup_cache"]

_STATE_KEY = "commons_cache"


def register_cache_errors(mapper: ErrorMapper) -> None:
    """Map ``internal_cache`` errors: unreachable server and lock timeouts → 503, others → 500.

    ``Retry-After`` is sent when the unavailable error carries ``retry_after`` (an open breaker).
    """
    mapper.register(CacheError, 500, "cache_error")
    mapper.register(
        CacheUnavailableError,
        503,
        "cache_unavailable",
        detail="The cache is temporarily unavailable; retry later.",
        headers=retry_after_header,
    )
    mapper.register(
        LockAcquireTimeout, 503, "resource_busy", detail="The resource is busy; retry the request."
    )


def setup_cache(app: FastAPI, client: CacheClient, *, mapper: ErrorMapper | None = None) -> None:
    """Make ``client`` available to :func:`get_cache` and register the error mapping.

    Call it from the app's lifespan (the client is closed by its owner).
    """
    app.state.commons_cache = client
    register_cache_errors(mapper if mapper is not None else error_mapper(app))


def get_cache(request: Request) -> CacheClient:
    """Dependency: the :class:`CacheClient` given to :func:`setup_cache`.

    Raises:
        ConfigurationError: ``setup_cache`` was not called.
    """
    client = getattr(request.app.state, _STATE_KEY, None)
    if not isinstance(client, CacheClient):
        raise ConfigurationError("no cache client: call internal_fastapi.extensions.cache.setup_cache()")
    return client


CacheDep = Annotated[CacheClient, Depends(get_cache)]
