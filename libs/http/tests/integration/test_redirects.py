"""Integration: no credential follows a redirect to another origin (two real servers, two ports)."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Generator

import httpx
import pytest
from pydantic import SecretStr

from internal_http import ApiKeyAuth, BasicAuth, BearerAuth, HttpSettings, create_client

from .app import ProgrammableApp


class ClientKeyAuth(httpx.Auth):
    """A custom strategy that knows nothing of this library: a header and a query parameter."""

    def __init__(self, key_id: str, key: str) -> None:
        self.key_id = key_id
        self.key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-Client-Key"] = self.key
        request.url = request.url.copy_add_param("client_key", self.key)
        yield request


def _provider(secret: str) -> Callable[[], Awaitable[SecretStr]]:
    async def fetch() -> SecretStr:
        return SecretStr(secret)

    return fetch


AUTHS: dict[str, Callable[[str], httpx.Auth]] = {
    "api-key-header": lambda s: ApiKeyAuth(s),
    "api-key-custom-header": lambda s: ApiKeyAuth(s, header="X-Thing"),
    "api-key-query": lambda s: ApiKeyAuth(s, query_param="api_key"),
    "bearer": lambda s: BearerAuth(s),
    "bearer-provider": lambda s: BearerAuth(provider=_provider(s)),
    "basic": lambda s: BasicAuth("user", s),
    "custom": lambda s: ClientKeyAuth("id-1", s),
}


def _leaks(secret: str, app: ProgrammableApp, key: str) -> list[str]:
    basic = base64.b64encode(f"user:{secret}".encode()).decode()
    seen = [*app.seen_headers[key], *app.seen_queries[key]]
    return [
        f"{name}={value}"
        for entry in seen
        for name, value in entry.items()
        if secret in value or basic in value
    ]


@pytest.mark.parametrize("status", ["302", "307"])
@pytest.mark.parametrize("kind", sorted(AUTHS))
async def test_credentials_stripped_on_redirect_to_other_port(
    base_url: str, other_url: str, other_app: ProgrammableApp, key: str, kind: str, status: str
) -> None:
    """A redirect to another port (another origin) reaches it without any credential of any auth kind."""
    secret = f"s3cret-{key}"
    settings = HttpSettings(base_url=base_url, follow_redirects=True)
    async with create_client(settings, auth=AUTHS[kind](secret)) as client:
        response = await client.get(
            "/redirect", params={"to": f"{other_url}/echo", "status": status, "key": key}
        )
    assert response.status_code == 200
    assert str(response.url).startswith(other_url)
    assert other_app.hits[key] == 1
    assert _leaks(secret, other_app, key) == []


@pytest.mark.parametrize("kind", ["api-key-header", "api-key-custom-header", "custom", "bearer"])
async def test_credentials_kept_on_same_origin_redirect(
    base_url: str, app: ProgrammableApp, key: str, kind: str
) -> None:
    """A redirect within the origin keeps the credential (header kinds; the Location decides the query)."""
    secret = f"s3cret-{key}"
    settings = HttpSettings(base_url=base_url, follow_redirects=True)
    async with create_client(settings, auth=AUTHS[kind](secret)) as client:
        response = await client.get("/redirect", params={"to": f"{base_url}/echo", "key": key})
    assert response.status_code == 200
    assert len(app.seen_headers[key]) == 2
    assert response.json()["path"] == "/echo"
    sent = response.json()["headers"]
    assert secret in " ".join(sent.values())


async def test_provider_not_refreshed_by_a_foreign_401(
    base_url: str, other_url: str, other_app: ProgrammableApp, key: str
) -> None:
    """A 401 from the origin a redirect led to neither refreshes the token nor replays with it."""
    calls: list[int] = []

    async def provider() -> SecretStr:
        calls.append(1)
        return SecretStr(f"tok-{key}-{len(calls)}")

    settings = HttpSettings(base_url=base_url, follow_redirects=True)
    async with create_client(settings, auth=BearerAuth(provider=provider)) as client:
        response = await client.get("/redirect", params={"to": f"{other_url}/protected", "key": key})
    assert response.status_code == 401
    assert calls == [1]
    assert other_app.hits[key] == 1
    assert _leaks(f"tok-{key}", other_app, key) == []


async def test_caller_secrets_stripped_on_redirect_to_other_port(
    base_url: str, other_url: str, other_app: ProgrammableApp, key: str
) -> None:
    """Without any auth, a secret-named header and query value the caller set stay at their origin."""
    secret = f"s3cret-{key}"
    settings = HttpSettings(base_url=base_url, follow_redirects=True, headers={"X-Auth-Token": secret})
    async with create_client(settings) as client:
        response = await client.get(
            "/redirect", params={"to": f"{other_url}/echo", "key": key, "access_token": secret, "page": "2"}
        )
    assert response.status_code == 200
    assert other_app.seen_queries[key] == [{"key": key, "page": "2"}]
    assert _leaks(secret, other_app, key) == []
