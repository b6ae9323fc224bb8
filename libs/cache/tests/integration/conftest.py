"""Fixtures for tests against a real Redis server."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import SecretStr

from internal_cache import CacheClient, CacheError, CacheSettings
from internal_testing import RedisCluster, RedisSentinel


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


def cluster_url(cluster: RedisCluster) -> str:
    """The redis+cluster:// URL of a test cluster (every node a startup node)."""
    return "redis+cluster://" + ",".join(f"{host}:{port}" for host, port in cluster.nodes)


@pytest.fixture(name="make_cluster_client")
async def make_cluster_client_fixture(
    redis_cluster: RedisCluster, redis_key_prefix: str
) -> AsyncIterator[Callable[..., CacheClient]]:
    """Factory of clients of the session's Redis Cluster under one fresh namespace; cleaned up after."""
    namespace = f"{redis_key_prefix}{secrets.token_hex(3)}:"
    made: list[CacheClient] = []
    url = cluster_url(redis_cluster)

    def make(**settings: object) -> CacheClient:
        options: dict[str, object] = {"key_prefix": namespace, "health_check": False, **settings}
        client = CacheClient(CacheSettings(url=SecretStr(url), **options))  # type: ignore[arg-type]
        made.append(client)
        return client

    yield make
    if made:
        cleaner = CacheClient(CacheSettings(url=SecretStr(url), key_prefix=namespace, health_check=False))
        with contextlib.suppress(CacheError):
            await cleaner.clear()
        await cleaner.aclose()
    for client in made:
        await client.aclose()


@pytest.fixture(name="make_sentinel_client")
async def make_sentinel_client_fixture(
    redis_sentinel: RedisSentinel, redis_key_prefix: str
) -> AsyncIterator[Callable[..., CacheClient]]:
    """Factory of clients of the session's Sentinel-managed master under one fresh namespace."""
    namespace = f"{redis_key_prefix}{secrets.token_hex(3)}:"
    made: list[CacheClient] = []

    def make(**settings: object) -> CacheClient:
        options: dict[str, object] = {"key_prefix": namespace, "health_check": False, **settings}
        client = CacheClient(CacheSettings(url=SecretStr(redis_sentinel.url), **options))  # type: ignore[arg-type]
        made.append(client)
        return client

    yield make
    if made:
        cleaner = CacheClient(
            CacheSettings(url=SecretStr(redis_sentinel.url), key_prefix=namespace, health_check=False)
        )
        with contextlib.suppress(CacheError):
            await cleaner.clear()
        await cleaner.aclose()
    for client in made:
        await client.aclose()
