"""Fixtures for tests against a real Redis server."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import SecretStr

from internal_cache import CacheClient, CacheSettings


@pytest.fixture(name="make_client")
async def make_client_fixture(
    redis_url: str, redis_key_prefix: str
) -> AsyncIterator[Callable[..., CacheClient]]:
    """Factory of clients on the shared server, all sharing one fresh namespace; cleaned up after."""
    namespace = f"{redis_key_prefix}{secrets.token_hex(3)}:"
    made: list[CacheClient] = []

    def make(url: str | None = None, **settings: object) -> CacheClient:
        options: dict[str, object] = {"key_prefix": namespace, **settings}
        options.setdefault("health_check", False)
        client = CacheClient(CacheSettings(url=SecretStr(url or redis_url), **options))  # type: ignore[arg-type]
        made.append(client)
        return client

    yield make
    if made:
        cleaner = CacheClient(
            CacheSettings(url=SecretStr(redis_url), key_prefix=namespace, health_check=False)
        )
        await cleaner.clear()
        await cleaner.aclose()
    for client in made:
        await client.aclose()


@pytest.fixture()
def client(make_client: Callable[..., CacheClient]) -> CacheClient:
    """A client on the shared server under a namespace unique to this test."""
    return make_client()
