"""Shared fixtures: fakeredis-backed clients for unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from fakeredis import FakeAsyncRedis, FakeServer

from internal_base.resilience import RetryPolicy
from internal_cache import CacheClient
from internal_cache._config import CONNECTION_ERRORS

pytest_plugins = ["internal_testing.plugin"]


def fast_retry(attempts: int = 3, total_timeout: float | None = 2.0) -> RetryPolicy:
    """A reconnection policy with millisecond backoff for tests."""
    return RetryPolicy(
        attempts=attempts,
        initial_wait=0.001,
        max_wait=0.01,
        total_timeout=total_timeout,
        retry_on=CONNECTION_ERRORS,
        name="test",
    )


@pytest.fixture(name="fast_retry")
def fast_retry_fixture() -> Callable[..., RetryPolicy]:
    """Factory of millisecond-backoff reconnection policies."""
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
    client = CacheClient(fake_redis, key_prefix="app:", retry=fast_retry())
    yield client
    await client.aclose()
