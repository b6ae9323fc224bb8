"""Authentication strategies as ``httpx.Auth`` subclasses; secrets never reach a repr or log."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator

import httpx
from pydantic import SecretStr

from ._errors import HttpError
from ._logging import mark_secret, register_secret_query_param

__all__ = ["ApiKeyAuth", "BasicAuth", "BearerAuth", "TokenProvider"]

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
    once with the new token (one-shot streamed bodies are not replayed).
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
