"""Integration: auth strategies against a server that checks credentials; no secret in logs."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Generator

import httpx
import pytest
from pydantic import SecretStr

from internal_base.resilience import testing
from internal_http import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    HttpResilienceSettings,
    HttpSettings,
    RetryConfig,
    create_client,
)

from .app import ProgrammableApp


class Rotating:
    """Token provider issuing rot-<key>-1, rot-<key>-2, ... and counting calls."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.calls = 0

    async def __call__(self) -> SecretStr:
        self.calls += 1
        await asyncio.sleep(0.01)
        return SecretStr(f"{self.prefix}-{self.calls}")


async def test_concurrent_401s_refresh_once(base_url: str, key: str, app: ProgrammableApp) -> None:
    """30 concurrent requests with an expired token trigger one refresh; all then succeed."""
    provider = Rotating(f"rot-{key}")
    app.valid_credentials.add(f"Bearer rot-{key}-2")
    auth = BearerAuth(provider=provider)
    async with create_client(HttpSettings(base_url=base_url), auth=auth) as client:
        responses = await asyncio.gather(*(client.get("/protected", params={"key": key}) for _ in range(30)))
    assert [r.status_code for r in responses] == [200] * 30
    assert provider.calls == 2
    assert app.hits[key] == 60


async def test_basic_auth(base_url: str, key: str, app: ProgrammableApp) -> None:
    """Basic credentials are accepted by the server."""
    app.valid_credentials.add("Basic " + base64.b64encode(f"u-{key}:p".encode()).decode())
    settings = HttpSettings(base_url=base_url)
    async with create_client(settings, auth=BasicAuth(f"u-{key}", "p")) as client:
        ok = await client.get("/protected", params={"key": key})
    async with create_client(settings, auth=BasicAuth(f"u-{key}", "bad")) as client:
        denied = await client.get("/protected", params={"key": key})
    assert (ok.status_code, denied.status_code) == (200, 401)


@pytest.mark.parametrize("in_query", [False, True])
async def test_api_key(base_url: str, key: str, app: ProgrammableApp, in_query: bool) -> None:
    """An API key in the header or the query string is accepted."""
    secret = f"ak-{key}"
    app.valid_credentials.add(secret)
    auth = ApiKeyAuth(secret, query_param="api_key") if in_query else ApiKeyAuth(secret)
    async with create_client(HttpSettings(base_url=base_url), auth=auth) as client:
        response = await client.get("/protected", params={"key": key})
    assert response.status_code == 200


async def test_no_secret_in_any_log_line(
    base_url: str, key: str, app: ProgrammableApp, caplog: pytest.LogCaptureFixture
) -> None:
    """With DEBUG logs and header logging on, no token, password or key shows up in any record."""
    caplog.set_level(logging.DEBUG)
    secrets = [f"bearer-{key}", f"pw-{key}", f"qk-{key}", f"hk-{key}", f"url-{key}"]
    app.valid_credentials.update({f"Bearer {secrets[0]}", secrets[2]})
    settings = HttpSettings(
        base_url=base_url, log_headers=True, resilience=HttpResilienceSettings(retry=RetryConfig(attempts=2))
    )
    with testing():
        async with create_client(settings, auth=BearerAuth(secrets[0])) as client:
            await client.get("/protected", params={"key": key})
            await client.get("/flaky", params={"key": f"{key}-f", "fail": "1", "token": secrets[4]})
        async with create_client(settings, auth=BasicAuth("user", secrets[1])) as client:
            await client.get("/protected", params={"key": key})
        async with create_client(settings, auth=ApiKeyAuth(secrets[2], query_param="api_key")) as client:
            await client.get("/protected", params={"key": key})
        async with create_client(settings, auth=ApiKeyAuth(secrets[3], header="X-Thing")) as client:
            await client.get("/protected", params={"key": key}, headers={"Cookie": f"sid={secrets[3]}"})
    ours = [r for r in caplog.records if r.name.startswith("internal_http")]
    assert len(ours) >= 7
    for record in caplog.records:
        text = record.getMessage() + repr(record.__dict__)
        assert not [s for s in secrets if s in text], record.getMessage()
    assert [r.http_status for r in ours if r.levelno == logging.WARNING] == [503]  # type: ignore[attr-defined]


class SignedAuth(httpx.Auth):
    """A custom strategy that does not call mark_secret: a key header and a signature parameter."""

    def __init__(self, key: str) -> None:
        self._key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-Client-Key"] = self._key
        request.url = request.url.copy_add_param("k", self._key)
        yield request


async def test_custom_auth_works_and_is_masked(
    base_url: str, key: str, app: ProgrammableApp, caplog: pytest.LogCaptureFixture
) -> None:
    """A custom httpx.Auth given to create_client reaches the server and its values are in no log record."""
    caplog.set_level(logging.DEBUG)
    secret = f"custom-{key}"
    settings = HttpSettings(
        base_url=base_url, log_headers=True, resilience=HttpResilienceSettings(retry=RetryConfig(attempts=2))
    )
    with testing():
        async with create_client(settings, auth=SignedAuth(secret)) as client:
            ok = await client.get("/echo", params={"key": key})
            failed = await client.get("/flaky", params={"key": f"{key}-f", "fail": "2"})
    assert ok.json()["headers"]["x-client-key"] == secret
    assert ok.json()["query"]["k"] == secret
    assert failed.status_code == 503
    ours = [r for r in caplog.records if r.name == "internal_http"]
    assert len(ours) >= 3
    leaked = [r.getMessage() for r in caplog.records if secret in r.getMessage() + repr(r.__dict__)]
    assert leaked == []
