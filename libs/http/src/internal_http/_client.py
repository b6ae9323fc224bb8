"""``create_client``: a configured ``httpx.AsyncClient`` with retries, breakers and context."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Generator
from types import ModuleType
from typing import Any

import httpx

from internal_base.context import inject_context
from internal_base.health import HealthRegistry, default_registry

from ._auth import ApiKeyAuth, BasicAuth, BearerAuth, SecretMarkingAuth
from ._config import HttpSettings
from ._errors import Http2NotAvailableError
from ._health import register_host_check
from ._logging import install_httpx_filter
from ._telemetry import STATE as _TELEMETRY
from ._telemetry import traced_send
from ._transport import BreakerRegistry, RetryTransport

__all__ = ["create_client", "inject_context_hook", "require_extra"]


def require_extra(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`Http2NotAvailableError` naming the pip extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise Http2NotAvailableError(
            f"{module!r} is not installed; install the extra: pip install 'internal-http[{extra}]'",
            name=module,
        ) from exc


async def inject_context_hook(request: httpx.Request) -> None:
    """Request event hook: add the correlation id and W3C trace headers the caller did not set."""
    carrier: dict[str, str] = {}
    inject_context(carrier)
    headers = request.headers
    for name, value in carrier.items():
        if name not in headers:
            headers[name] = value


# Strategies that mark their own secrets; any other httpx.Auth is wrapped in SecretMarkingAuth.
_SELF_MARKING = (ApiKeyAuth, BasicAuth, BearerAuth, SecretMarkingAuth)


class _CallableAuth(httpx.Auth):
    """A plain function ``request -> request`` as an ``httpx.Auth`` (as httpx itself wraps one)."""

    def __init__(self, func: Callable[[httpx.Request], httpx.Request]) -> None:
        self._func = func

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        yield self._func(request)


def _marking(auth: Any) -> Any:
    """``auth`` wrapped in :class:`SecretMarkingAuth` unless it marks its secrets itself.

    A function becomes an ``httpx.Auth`` first; ``None``, a ``(user, password)`` tuple
    (Basic: the Authorization header is masked anyway) and httpx's ``USE_CLIENT_DEFAULT`` pass through.
    """
    if isinstance(auth, httpx.Auth):
        return auth if isinstance(auth, _SELF_MARKING) else SecretMarkingAuth(auth)
    if callable(auth):
        return SecretMarkingAuth(_CallableAuth(auth))
    return auth


class _Client(httpx.AsyncClient):
    """``httpx.AsyncClient`` whose ``send`` opens a CLIENT span once telemetry is instrumented.

    An auth given to one call (``auth=``) or set later (``client.auth = ...``) is wrapped like the
    one given to ``create_client``, so its tokens are masked in logs and spans as well.
    """

    @property
    def auth(self) -> httpx.Auth | None:
        """The client's auth (see ``httpx.AsyncClient.auth``)."""
        return httpx.AsyncClient.auth.fget(self)  # type: ignore[attr-defined,no-any-return]

    @auth.setter
    def auth(self, auth: Any) -> None:
        httpx.AsyncClient.auth.fset(self, _marking(auth))  # type: ignore[attr-defined]

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        """Send ``request`` (see ``httpx.AsyncClient.send``); traced when instrumented."""
        auth = kwargs.get("auth")
        if auth is not None and auth is not httpx.USE_CLIENT_DEFAULT and not isinstance(auth, _SELF_MARKING):
            kwargs["auth"] = _marking(auth)
        if not _TELEMETRY.enabled:
            return await super().send(request, **kwargs)
        return await traced_send(super().send, request, kwargs)


# httpx.AsyncClient arguments that only shape the default transport; ours always passes a transport.
_TRANSPORT_OPTIONS = frozenset({"limits", "verify", "cert", "http1", "http2"})


def create_client(
    settings: HttpSettings | None = None,
    *,
    health_registry: HealthRegistry | None = None,
    auth: httpx.Auth | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    breaker_registry: BreakerRegistry | None = None,
    **httpx_kwargs: Any,
) -> httpx.AsyncClient:
    """Return an ``httpx.AsyncClient`` configured from ``settings``.

    The client's transport is a :class:`RetryTransport` around ``transport`` (or a new
    ``httpx.AsyncHTTPTransport`` with the configured limits, TLS verification and HTTP/2),
    and a request hook adds the correlation id and ``traceparent`` to every request. A filter
    on httpx's own logger masks secret query values in its ``HTTP Request`` lines. After
    ``internal_http.telemetry.instrument()`` each call (``send``, with its retries and redirects)
    is one CLIENT span and one ``http.client.request.duration`` measurement.

    With ``settings.health_check`` on (the default) and a ``base_url``, a non-critical health check
    of the base URL's host (its breaker state and last error) is registered; closing the client
    (``aclose()`` or leaving ``async with``) removes it.

    Args:
        settings: Client settings; ``HttpSettings.load()`` (init, env ``COMMONS_HTTP_*``, the
            ``http:`` section of the YAML file named by ``COMMONS_CONFIG_FILE``, .env, defaults)
            when ``None``.
        health_registry: Where the health check goes (default: the process-wide
            ``internal_base.health.default_registry()``); nothing is registered when
            ``settings.health_check`` is off or there is no ``base_url``.
        auth: An ``httpx.Auth`` such as :class:`BearerAuth`, :class:`BasicAuth`, :class:`ApiKeyAuth`;
            any other ``httpx.Auth`` is wrapped in :class:`SecretMarkingAuth`, so the headers and
            query parameters it sets are masked in logs and never follow a redirect to another origin.
        transport: The transport to wrap (e.g. ``httpx.MockTransport`` in tests).
        breaker_registry: Share per-host breakers between clients; by default each client
            gets its own (none when ``settings.resilience.breaker.failure_threshold`` is 0).
        **httpx_kwargs: Passed to ``httpx.AsyncClient`` (override the settings); extra
            ``event_hooks`` run after the context hook.

    Raises:
        Http2NotAvailableError: ``settings.http2`` is on and ``h2`` is not installed.
        TypeError: A transport option (``limits``, ``verify``, ``http2``, ...) was passed as a keyword:
            httpx ignores those when a transport is given, so they belong in ``settings``.
    """
    ignored = sorted(_TRANSPORT_OPTIONS.intersection(httpx_kwargs))
    if ignored:
        raise TypeError(
            f"create_client() got transport options {ignored}, which httpx ignores when a transport "
            "is set; configure them in HttpSettings (limits, verify, http2) or pass transport="
        )
    settings = settings if settings is not None else HttpSettings.load()
    install_httpx_filter()
    if settings.http2:
        require_extra("h2", "http2")
    if transport is None:
        transport = httpx.AsyncHTTPTransport(
            verify=settings.verify, http2=settings.http2, limits=settings.limits.to_httpx()
        )
    auth = _marking(auth)
    resilience = settings.resilience
    if breaker_registry is None and resilience.breaker.failure_threshold > 0:
        breaker_registry = BreakerRegistry(resilience.breaker)
    retry_transport = RetryTransport(
        transport,
        retry=resilience.retry,
        timeout=resilience.timeout,
        breaker_registry=breaker_registry,
        log_headers=settings.log_headers,
    )
    hooks: dict[str, list[Any]] = {"request": [inject_context_hook], "response": []}
    for kind, extra_hooks in (httpx_kwargs.pop("event_hooks", None) or {}).items():
        hooks.setdefault(kind, []).extend(extra_hooks)
    options: dict[str, Any] = {
        "base_url": settings.base_url,
        "timeout": settings.timeout.to_httpx(),
        "headers": settings.headers,
        "follow_redirects": settings.follow_redirects,
        "auth": auth,
        "event_hooks": hooks,
        "transport": retry_transport,
    }
    options.update(httpx_kwargs)
    client = _Client(**options)
    if settings.health_check and client.base_url.host:
        registry = health_registry if health_registry is not None else default_registry()
        register_host_check(registry, retry_transport, client.base_url)
    return client
