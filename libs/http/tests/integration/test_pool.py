"""Integration: a pool of one connection survives retries and token refreshes (no leaked connection)."""

from __future__ import annotations

import asyncio

import httpx
from pydantic import SecretStr

from internal_base.resilience import testing
from internal_http import (
    BearerAuth,
    BreakerConfig,
    HttpResilienceSettings,
    HttpSettings,
    LimitsConfig,
    RetryConfig,
    TimeoutConfig,
    create_client,
)

from .app import ProgrammableApp


def _one_connection(base_url: str, **retry: object) -> HttpSettings:
    return HttpSettings(
        base_url=base_url,
        limits=LimitsConfig(max_connections=1),
        # A leaked connection shows as a PoolTimeout; generous, so a busy machine never fakes one.
        timeout=TimeoutConfig(pool=10.0, read=10.0),
        resilience=HttpResilienceSettings(
            retry=RetryConfig(attempts=5, **retry), breaker=BreakerConfig(failure_threshold=0)
        ),
    )


async def test_retries_reuse_the_only_connection(base_url: str, key: str, app: ProgrammableApp) -> None:
    """Four 503s then 200 with max_connections=1: every failed response is released before retrying."""
    with testing():
        async with create_client(_one_connection(base_url)) as client:
            responses = await asyncio.gather(
                *(client.get("/flaky", params={"key": f"{key}-{i}", "fail": "4"}) for i in range(3))
            )
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert [app.hits[f"{key}-{i}"] for i in range(3)] == [5, 5, 5]


async def test_token_refresh_through_the_same_pool(base_url: str, key: str, app: ProgrammableApp) -> None:
    """A provider fetching its token with the same one-connection client refreshes after a 401.

    The 401 response must release its connection before the provider runs, or the provider's
    own request waits for the pool forever (here: a PoolTimeout).
    """
    app.valid_credentials.add(f"Bearer {key}-new")
    calls: list[int] = []
    holder: dict[str, httpx.AsyncClient] = {}

    async def provider() -> SecretStr:
        calls.append(1)
        if len(calls) == 1:
            return SecretStr(f"{key}-old")
        echo = await holder["client"].get("/echo", params={"token": f"{key}-new"}, auth=None)
        return SecretStr(echo.json()["query"]["token"])

    auth = BearerAuth(provider=provider)
    async with create_client(_one_connection(base_url), auth=auth) as client:
        holder["client"] = client
        response = await client.get("/protected", params={"key": key})
    assert response.status_code == 200
    assert len(calls) == 2
