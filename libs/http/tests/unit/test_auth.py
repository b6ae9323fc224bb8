"""Unit tests for the auth strategies (httpx.MockTransport, no network)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Generator

import httpx
import pytest
from pydantic import SecretStr

from internal_http import (
    SECRET_NAMES_EXTENSION,
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    HttpError,
    SecretMarkingAuth,
    create_client,
)

TOKEN = "tok-7f3a9c"


def _echo_auth(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"auth": request.headers.get("Authorization"), "url": str(request.url)})


class TokenSource:
    """Async token provider that counts calls and yields token-1, token-2, ..."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.delay = delay

    async def __call__(self) -> SecretStr:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return SecretStr(f"token-{self.calls}")


async def test_static_bearer_sets_header() -> None:
    """A static token becomes "Authorization: Bearer <token>"."""
    transport = httpx.MockTransport(_echo_auth)
    async with httpx.AsyncClient(transport=transport, auth=BearerAuth(TOKEN)) as client:
        response = await client.get("https://api.test/")
    assert response.json()["auth"] == f"Bearer {TOKEN}"


def test_static_bearer_works_with_sync_client() -> None:
    """A static bearer token also works with the sync httpx.Client."""
    with httpx.Client(transport=httpx.MockTransport(_echo_auth), auth=BearerAuth(SecretStr(TOKEN))) as client:
        assert client.get("https://api.test/").json()["auth"] == f"Bearer {TOKEN}"


def test_provider_needs_async_client() -> None:
    """A token provider cannot be used from the sync client."""
    auth = BearerAuth(provider=TokenSource())
    with (
        httpx.Client(transport=httpx.MockTransport(_echo_auth), auth=auth) as client,
        pytest.raises(HttpError, match="requires httpx.AsyncClient"),
    ):
        client.get("https://api.test/")


def test_bearer_needs_exactly_one_source() -> None:
    """BearerAuth rejects both or neither of token/provider."""
    with pytest.raises(ValueError, match="exactly one"):
        BearerAuth()
    with pytest.raises(ValueError, match="exactly one"):
        BearerAuth(TOKEN, provider=TokenSource())


async def test_provider_token_is_cached() -> None:
    """The provider is called once for many sequential requests."""
    source = TokenSource()
    auth = BearerAuth(provider=source)
    async with httpx.AsyncClient(transport=httpx.MockTransport(_echo_auth), auth=auth) as client:
        seen = [(await client.get("https://api.test/")).json()["auth"] for _ in range(5)]
    assert seen == ["Bearer token-1"] * 5
    assert source.calls == 1
    assert auth.generation == 1


async def test_concurrent_401s_refresh_once() -> None:
    """Many requests failing with 401 at once cause exactly one refresh and all succeed."""
    source = TokenSource(delay=0.01)
    valid = {"Bearer token-2"}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") in valid:
            return httpx.Response(200, json={"auth": request.headers["Authorization"]})
        return httpx.Response(401)

    auth = BearerAuth(provider=source)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), auth=auth) as client:
        responses = await asyncio.gather(*(client.get("https://api.test/") for _ in range(25)))
    assert [r.status_code for r in responses] == [200] * 25
    assert source.calls == 2
    assert auth.generation == 2


async def test_401_after_refresh_is_returned() -> None:
    """A request is replayed once; a second 401 reaches the caller."""
    source = TokenSource()
    auth = BearerAuth(provider=source)
    transport = httpx.MockTransport(lambda r: httpx.Response(401))
    async with httpx.AsyncClient(transport=transport, auth=auth) as client:
        response = await client.get("https://api.test/")
    assert response.status_code == 401
    assert source.calls == 2
    assert len(response.history) == 1


async def test_streamed_body_not_replayed_on_401() -> None:
    """A one-shot streamed body is not replayed after a 401 (no refresh either)."""
    source = TokenSource()
    bodies: list[bytes] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(await request.aread())
        return httpx.Response(401)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"part-1"

    auth = BearerAuth(provider=source)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), auth=auth) as client:
        response = await client.post("https://api.test/", content=chunks())
    assert response.status_code == 401
    assert bodies == [b"part-1"]
    assert source.calls == 1


async def test_invalidate_fetches_a_new_token() -> None:
    """invalidate() drops the cached token."""
    source = TokenSource()
    auth = BearerAuth(provider=source)
    async with httpx.AsyncClient(transport=httpx.MockTransport(_echo_auth), auth=auth) as client:
        first = (await client.get("https://api.test/")).json()["auth"]
        await auth.invalidate()
        second = (await client.get("https://api.test/")).json()["auth"]
    assert (first, second) == ("Bearer token-1", "Bearer token-2")


async def test_basic_auth_header() -> None:
    """BasicAuth sends base64(username:password)."""
    auth = BasicAuth("alice", SecretStr("pa55word"))
    async with httpx.AsyncClient(transport=httpx.MockTransport(_echo_auth), auth=auth) as client:
        header = (await client.get("https://api.test/")).json()["auth"]
    assert header == "Basic " + base64.b64encode(b"alice:pa55word").decode()


async def test_api_key_in_header() -> None:
    """ApiKeyAuth puts the key in the configured header and marks it secret."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    auth = ApiKeyAuth("k-123", header="X-Token")
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), auth=auth) as client:
        await client.get("https://api.test/")
    assert seen[0].headers["X-Token"] == "k-123"
    assert seen[0].extensions[SECRET_NAMES_EXTENSION] == ("x-token",)


async def test_api_key_in_query() -> None:
    """ApiKeyAuth with query_param adds the key to the URL, keeping other parameters."""
    auth = ApiKeyAuth("k-123", query_param="key")
    async with httpx.AsyncClient(transport=httpx.MockTransport(_echo_auth), auth=auth) as client:
        url = (await client.get("https://api.test/items", params={"page": "2"})).json()["url"]
    assert url == "https://api.test/items?page=2&key=k-123"


def test_reprs_hide_secrets() -> None:
    """No strategy shows its secret in repr."""
    texts = [
        repr(BearerAuth(TOKEN)),
        repr(BearerAuth(provider=TokenSource())),
        repr(BasicAuth("alice", "pa55word")),
        repr(ApiKeyAuth("k-123")),
        repr(ApiKeyAuth("k-123", query_param="key")),
    ]
    assert all(TOKEN not in t and "pa55word" not in t and "k-123" not in t for t in texts)
    assert "alice" in texts[2]
    assert "TokenSource" in texts[1]


class ChallengeAuth(httpx.Auth):
    """A custom two-step strategy: fetch a nonce from a token URL, then sign the request with it."""

    def __init__(self, key: str) -> None:
        self._key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        nonce = yield httpx.Request("POST", "https://auth.test/nonce", headers={"X-Key-Id": "id-1"})
        request.headers["X-Signature-Value"] = f"{self._key}:{nonce.text}"
        request.url = request.url.copy_add_param("sig_v", self._key)
        yield request


def _nonce_or_echo(request: httpx.Request) -> httpx.Response:
    if request.url.host == "auth.test":
        return httpx.Response(200, text="n-1")
    return httpx.Response(200, json={"headers": dict(request.headers), "url": str(request.url)})


async def test_secret_marking_auth_marks_what_the_flow_set() -> None:
    """SecretMarkingAuth marks the headers and query parameters its strategy set, nothing else."""
    auth = SecretMarkingAuth(ChallengeAuth("k-9"))
    transport = httpx.MockTransport(_nonce_or_echo)
    async with httpx.AsyncClient(transport=transport, auth=auth) as client:
        response = await client.get("https://api.test/x", params={"page": "2"}, headers={"Accept": "a/b"})
    marked = response.request.extensions[SECRET_NAMES_EXTENSION]
    assert response.json()["headers"]["x-signature-value"] == "k-9:n-1"
    assert sorted(marked) == ["sig_v", "x-signature-value"]
    assert repr(auth) == "SecretMarkingAuth(ChallengeAuth)"
    assert isinstance(auth.auth, ChallengeAuth)


def test_secret_marking_auth_sync_flow() -> None:
    """The synchronous flow of a wrapped strategy runs and is marked the same way."""
    auth = SecretMarkingAuth(ChallengeAuth("k-9"))
    with httpx.Client(transport=httpx.MockTransport(_nonce_or_echo), auth=auth) as client:
        response = client.get("https://api.test/x")
    assert response.json()["url"] == "https://api.test/x?sig_v=k-9"
    assert sorted(response.request.extensions[SECRET_NAMES_EXTENSION]) == ["sig_v", "x-signature-value"]


async def test_create_client_wraps_only_foreign_strategies() -> None:
    """create_client wraps a custom httpx.Auth in SecretMarkingAuth and keeps its own strategies as given."""
    own = BearerAuth(TOKEN)
    transport = httpx.MockTransport(_nonce_or_echo)
    async with (
        create_client(auth=own, transport=transport) as mine,
        create_client(auth=ChallengeAuth("k"), transport=transport) as custom,
    ):
        assert mine.auth is own
        assert isinstance(custom.auth, SecretMarkingAuth)
