"""CacheClient against a real Redis server: prefixes, TTLs, values, health, pool, failures."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from internal_base.health import HealthRegistry, HealthStatus, default_registry
from internal_cache import CacheClient, CacheSettings, CacheUnavailableError


async def test_prefix_applied_once(client: CacheClient, redis_url: str) -> None:
    """Keys land under the prefix exactly once, seen through an independent raw client."""
    await client.set("user:1", "ada", ttl=30)
    raw = aioredis.Redis.from_url(redis_url)
    try:
        assert await raw.get(client.key("user:1")) == b"ada"
        assert await raw.exists(client.key(client.key("user:1"))) == 0
        assert await client.redis.get(client.key("user:1")) == b"ada"
    finally:
        await raw.aclose()


async def test_ttl_round_trip(client: CacheClient) -> None:
    """TTL is set, read, refreshed and removed on the real server."""
    await client.set("t", 1, ttl=30)
    remaining = await client.ttl("t")
    assert remaining is not None
    assert 20 < remaining <= 30
    assert await client.refresh("t", 20) is True
    assert 19 < (await client.ttl("t") or 0) <= 20
    assert await client.persist("t") is True
    assert await client.ttl("t") == math.inf
    await client.set("short", 1, ttl=0.05)
    await asyncio.sleep(0.1)
    assert await client.get("short") is None
    assert await client.ttl("short") is None


async def test_multi_key_and_values(client: CacheClient) -> None:
    """Multi-key commands and serialized values work end to end."""
    await client.mset({"a": 1, "b": 2}, ttl=30)
    assert await client.mget(["a", "b", "zz"]) == [b"1", b"2", None]
    assert await client.exists("a", "b") == 2
    assert await client.delete("a", "b", "zz") == 2
    await client.set_value("doc", {"id": 7, "tags": ["x"]})
    assert await client.get_value("doc") == {"id": 7, "tags": ["x"]}
    assert sorted([k async for k in client.scan_keys()]) == ["doc"]


async def test_get_or_set_once_across_clients(make_client: Callable[..., CacheClient]) -> None:
    """Two clients (separate pools, as two processes would be) compute a missing value once."""
    first, second = make_client(), make_client()
    calls = 0

    async def factory() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.1)
        return "value"

    results = await asyncio.gather(*(c.get_or_set("shared", factory, ttl=30) for c in [first, second] * 5))
    assert results == ["value"] * 10
    assert calls == 1


async def test_health_check_in_default_registry(redis_url: str, redis_key_prefix: str) -> None:
    """A client registers a readiness check in the process registry; aclose removes it."""
    name = f"redis-{redis_key_prefix}"
    settings = CacheSettings(url=SecretStr(redis_url), health_check_name=name)
    async with CacheClient(settings) as client:
        registry = default_registry()
        assert name in registry.names
        report = await registry.readiness()
        assert report.check(name).status == HealthStatus.HEALTHY
        assert await client.health_check() is True
    assert name not in registry.names


async def test_unreachable_server_fails_fast(unused_tcp_port: int) -> None:
    """Nothing listening: a clear CacheUnavailableError within the window, never a hang."""
    client = CacheClient.from_url(
        f"redis://:pw-secret@127.0.0.1:{unused_tcp_port}/0",
        health_check=False,
        resilience={
            "retry": {"attempts": 3, "total_timeout": 0.5, "backoff": {"initial": 0.01, "maximum": 0.02}}
        },
    )
    start = time.monotonic()
    with pytest.raises(CacheUnavailableError, match=r"3 attempts over [\d.]+s of the 0.5s") as info:
        await client.get("k")
    assert time.monotonic() - start < 5.0
    assert "pw-secret" not in str(info.value)
    assert f"127.0.0.1:{unused_tcp_port}" in str(info.value)
    registry = HealthRegistry(cache_ttl=0)
    client.register_health_check(registry)
    assert (await registry.readiness()).status == HealthStatus.UNHEALTHY
    await client.aclose()


async def test_wrong_password_not_retried(redis_server_factory: Callable[..., Any]) -> None:
    """A wrong password fails at once (no retries) and the error does not show it."""
    server = redis_server_factory(extra_args=("--requirepass", "right-pass"))
    url = f"redis://:wrong-pass@127.0.0.1:{server.port}/0"
    client = CacheClient.from_url(
        url,
        health_check=False,
        resilience={"retry": {"attempts": 10, "backoff": {"initial": 0.5, "maximum": 1}}},
    )
    start = time.monotonic()
    with pytest.raises(CacheUnavailableError, match="refused the credentials") as info:
        await client.get("k")
    assert time.monotonic() - start < 5.0  # no backoff waits (they would take 0.5-1 s each)
    assert "wrong-pass" not in str(info.value)
    assert "wrong-pass" not in repr(client)
    await client.aclose()
    async with CacheClient.from_url(
        f"redis://:right-pass@127.0.0.1:{server.port}/0", health_check=False
    ) as good:
        assert await good.set("k", 1) is True
        assert await good.get("k") == b"1"


async def test_pool_exhaustion_waits_then_fails(make_client: Callable[..., CacheClient]) -> None:
    """With every connection busy, commands wait up to pool_timeout, then fail clearly."""
    client = make_client(max_connections=1, pool_timeout=0.15)
    blocker = asyncio.create_task(client.call(client.redis.blpop, [client.key("q")], 5))
    await in_use(client)
    with pytest.raises(CacheUnavailableError, match="no free pooled connection"):
        await client.get("k")
    patient = make_client(max_connections=1, pool_timeout=30)
    blocker2 = asyncio.create_task(patient.call(patient.redis.blpop, [patient.key("q2")], 30))
    await in_use(patient)
    waiting = asyncio.create_task(patient.get("k"))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await make_client().redis.rpush(client.key("q2"), "go")
    assert await blocker2 == (client.key("q2").encode(), b"go")
    assert await waiting is None
    await make_client().redis.rpush(client.key("q"), "go")
    assert await blocker == (client.key("q").encode(), b"go")
    assert client.stats.failures == 0  # pool exhaustion never counts toward the breaker
    assert client.link.breaker is not None
    assert client.link.breaker.state == "closed"


async def in_use(client: CacheClient) -> None:
    """Wait (bounded) until ``client``'s only pooled connection is taken."""
    assert isinstance(client.redis, aioredis.Redis)
    pool = client.redis.connection_pool
    deadline = time.monotonic() + 10
    while not pool._in_use_connections and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert pool._in_use_connections
