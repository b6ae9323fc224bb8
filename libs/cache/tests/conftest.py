"""Shared fixtures: fakeredis-backed clients for unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from fakeredis import FakeAsyncRedis, FakeServer

from internal_cache import CacheClient, CacheSettings

pytest_plugins = ["internal_testing.plugin"]


def fast_retry(attempts: int = 3, total_timeout: float | None = 2.0) -> dict[str, Any]:
    """A resilience section with millisecond backoff for tests."""
    return {
        "retry": {
            "attempts": attempts,
            "total_timeout": total_timeout,
            "backoff": {"initial": 0.001, "maximum": 0.01},
        }
    }


def fake_client(redis: FakeAsyncRedis, **settings: Any) -> CacheClient:
    """A client over a caller-owned fakeredis client; no health check unless asked for."""
    options: dict[str, Any] = {"health_check": False, **settings}
    return CacheClient(CacheSettings(**options), redis=redis)


@pytest.fixture(name="fast_retry")
def fast_retry_fixture() -> Callable[..., dict[str, Any]]:
    """Factory of millisecond-backoff resilience sections."""
    return fast_retry


@pytest.fixture()
def fake_server() -> FakeServer:
    """A fresh in-memory Redis server."""
    return FakeServer()


@pytest.fixture()
async def fake_redis(fake_server: FakeServer) -> AsyncIterator[FakeAsyncRedis]:
    """A FakeAsyncRedis client on ``fake_server``."""
    client = FakeAsyncRedis(server=fake_server)
    yield client
    await client.aclose()


@pytest.fixture()
async def cache(fake_redis: FakeAsyncRedis) -> AsyncIterator[CacheClient]:
    """A CacheClient with prefix ``app:`` over fakeredis."""
    client = fake_client(fake_redis, key_prefix="app:", resilience=fast_retry())
    yield client
    await client.aclose()


@pytest.fixture()
def make_cache(fake_redis: FakeAsyncRedis) -> Callable[..., CacheClient]:
    """Factory of clients over ``fake_redis`` built from CacheSettings fields (no health check)."""

    def make(**settings: Any) -> CacheClient:
        return fake_client(fake_redis, **settings)

    return make
