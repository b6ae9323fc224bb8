"""Authentication strategies as ``httpx.Auth`` subclasses; secrets never reach a repr or log."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator

import httpx
from pydantic import SecretStr

from ._errors import HttpError
from ._logging import mark_secret, register_secret_query_param
from ._origin import origin_of, trusted_hop

__all__ = ["ApiKeyAuth", "BasicAuth", "BearerAuth", "SecretMarkingAuth", "TokenProvider"]

#: An async callable returning a fresh token (plain or ``SecretStr``).
TokenProvider = Callable[[], Awaitable["str | SecretStr"]]


def _secret(value: str | SecretStr) -> SecretStr:
    return value if isinstance(value, SecretStr) else SecretStr(value)


def _replayable(request: httpx.Request) -> bool:
    return isinstance(request.stream, httpx.ByteStream)


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>`` from a static token or an async token provider.

    With a provider the token is fetched on first use and cached; when requests get a 401
    the token is refreshed once per generation (an ``asyncio.Lock`` plus a generation
    counter), so many concurrent 401s cause a single refresh, and each request is replayed
    once with the new token (one-shot streamed bodies are not replayed). A 401 from another
    origin that a redirect led to (which never saw the token) is returned as it is.
    """

    def __init__(
        self, token: str | SecretStr | None = None, *, provider: TokenProvider | None = None
    ) -> None:
        """Use exactly one of a static ``token`` or an async ``provider``."""
        if (token is None) == (provider is None):
            raise ValueError("BearerAuth needs exactly one of token= or provider=")
        self._token: SecretStr | None = _secret(token) if token is not None else None
        self._provider = provider
        self._generation = 0
        self._lock = asyncio.Lock()

    @property
    def generation(self) -> int:
        """How many times the provider has produced a token."""
        return self._generation

    def __repr__(self) -> str:
        """Describe the strategy without the token."""
        if self._provider is None:
            return "BearerAuth(token=SecretStr('**********'))"
        name = getattr(self._provider, "__qualname__", type(self._provider).__name__)
        return f"BearerAuth(provider={name}, generation={self._generation})"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Set the static token (a provider needs ``httpx.AsyncClient``)."""
        if self._token is None or self._provider is not None:
            raise HttpError("BearerAuth with a token provider requires httpx.AsyncClient")
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Set the token; on a 401 refresh it (once per generation) and replay once."""
        if self._provider is None:
            assert self._token is not None
            request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
            yield request
            return
        replayable = _replayable(request)  # before the send consumes a streamed body
        token, generation = await self._current()
        request.headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        response = yield request
        if response.status_code != 401 or not replayable:
            return
        if not trusted_hop(origin_of(request.url), response.request.url):
            return  # the 401 came from where a redirect led, which never saw the token
        # Release the 401's connection first: the provider may need the same (small) pool.
        await response.aread()
        token = await self._refresh(generation)
        request.headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        yield request

    async def _current(self) -> tuple[SecretStr, int]:
        token = self._token
        if token is not None:
            return token, self._generation
        async with self._lock:
            if self._token is None:
                await self._fetch()
            assert self._token is not None
            return self._token, self._generation

    async def _refresh(self, seen_generation: int) -> SecretStr:
        async with self._lock:
            if self._generation == seen_generation or self._token is None:
                await self._fetch()
            assert self._token is not None
            return self._token

    async def _fetch(self) -> None:
        assert self._provider is not None
        self._token = _secret(await self._provider())
        self._generation += 1

    async def invalidate(self) -> None:
        """Drop the cached token so the next request fetches a new one."""
        async with self._lock:
            if self._provider is not None:
                self._token = None


class BasicAuth(httpx.Auth):
    """HTTP Basic authentication with a ``SecretStr`` password."""

    def __init__(self, username: str, password: str | SecretStr) -> None:
        """Build the ``Authorization`` value once."""
        self.username = username
        raw = f"{username}:{_secret(password).get_secret_value()}".encode()
        self._header = SecretStr("Basic " + base64.b64encode(raw).decode("ascii"))

    def __repr__(self) -> str:
        """Describe the strategy without the password."""
        return f"BasicAuth(username={self.username!r}, password=SecretStr('**********'))"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Set the ``Authorization`` header."""
        request.headers["Authorization"] = self._header.get_secret_value()
        yield request


class ApiKeyAuth(httpx.Auth):
    """An API key sent in a header (default ``X-API-Key``) or a query parameter.

    The header/parameter name is recorded on the request so logs mask it even when the
    name does not look secret.
    """

    def __init__(
        self, key: str | SecretStr, *, header: str = "X-API-Key", query_param: str | None = None
    ) -> None:
        """Send ``key`` in ``header``, or in ``query_param`` when given."""
        self._key = _secret(key)
        self.header = header
        self.query_param = query_param
        if query_param:
            register_secret_query_param(query_param)

    def __repr__(self) -> str:
        """Describe the strategy without the key."""
        where = f"query_param={self.query_param!r}" if self.query_param else f"header={self.header!r}"
        return f"ApiKeyAuth(key=SecretStr('**********'), {where})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the key to the request."""
        if self.query_param:
            request.url = request.url.copy_set_param(self.query_param, self._key.get_secret_value())
            mark_secret(request, self.query_param)
        else:
            request.headers[self.header] = self._key.get_secret_value()
            mark_secret(request, self.header)
        yield request


class SecretMarkingAuth(httpx.Auth):
    """Runs any ``httpx.Auth`` and treats whatever it adds to a request as a credential.

    Every header and query parameter the wrapped strategy adds or changes on the request is
    marked with :func:`internal_http.mark_secret`: this library's log lines mask it and a
    redirect to another origin is sent without it. :func:`internal_http.create_client` wraps
    every strategy that is not one of this library's own (they mark their secrets themselves).
    Requests the strategy builds itself (e.g. a token request) are not tracked.
    """

    def __init__(self, auth: httpx.Auth) -> None:
        """Wrap ``auth``, which stays reachable as :attr:`auth`."""
        self.auth = auth

    def __repr__(self) -> str:
        """Name the wrapped strategy's type, not its (possibly secret-bearing) repr."""
        return f"SecretMarkingAuth({type(self.auth).__qualname__})"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Run the wrapped synchronous flow, marking what it sets."""
        before = _Snapshot(request)
        flow = self.auth.sync_auth_flow(request)
        try:
            outgoing = next(flow)
            while True:
                before.mark_changes(outgoing)
                response = yield outgoing
                before = before.as_sent(outgoing)
                outgoing = flow.send(response)
        except StopIteration:
            return
        finally:
            flow.close()

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Run the wrapped asynchronous flow, marking what it sets."""
        before = _Snapshot(request)
        flow = self.auth.async_auth_flow(request)
        try:
            outgoing = await flow.__anext__()
            while True:
                before.mark_changes(outgoing)
                response = yield outgoing
                before = before.as_sent(outgoing)
                outgoing = await flow.asend(response)
        except StopAsyncIteration:
            return
        finally:
            await flow.aclose()


class _Snapshot:
    """A request's headers and query before an auth flow touched it."""

    __slots__ = ("headers", "params", "request")

    def __init__(self, request: httpx.Request) -> None:
        self.request = request
        self.headers = frozenset(request.headers.multi_items())
        self.params = frozenset(request.url.params.multi_items())

    def as_sent(self, sent: httpx.Request) -> _Snapshot:
        """The snapshot for the flow's next step: ``sent`` as it went out, request hooks included.

        What the client's own hooks add (``traceparent``, the correlation id) is then not taken for
        a change the strategy made when it yields the request again.
        """
        return _Snapshot(sent) if sent is self.request else self

    def mark_changes(self, outgoing: httpx.Request) -> None:
        if outgoing is not self.request:
            return
        for name, value in outgoing.headers.multi_items():
            if (name, value) not in self.headers:
                mark_secret(outgoing, name)
        for name, value in outgoing.url.params.multi_items():
            if (name, value) not in self.params:
                mark_secret(outgoing, name)
                register_secret_query_param(name)
