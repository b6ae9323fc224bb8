"""CacheClient over fakeredis: prefixed commands, TTLs, values, pipelines, health, recovery."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import Any

import pytest
from fakeredis import FakeAsyncRedis, FakeServer

from internal_base.errors import ConfigurationError
from internal_base.health import HealthRegistry, HealthStatus
from internal_cache import CacheClient, CacheError, CacheSettings, CacheUnavailableError, RawSerializer


async def test_set_get_are_prefixed(cache: CacheClient, fake_redis: FakeAsyncRedis) -> None:
    """Keys reach the server with the prefix exactly once."""
    assert await cache.set("user:1", "ada") is True
    assert await cache.get("user:1") == b"ada"
    assert await fake_redis.get("app:user:1") == b"ada"
    assert await fake_redis.exists("app:app:user:1") == 0
    assert cache.key("x") == "app:x"
    assert cache.redis is fake_redis


async def test_set_nx_xx(cache: CacheClient) -> None:
    """nx/xx report whether the write happened."""
    assert await cache.set("k", 1, nx=True) is True
    assert await cache.set("k", 2, nx=True) is False
    assert await cache.set("missing", 1, xx=True) is False
    assert await cache.get("k") == b"1"
    assert await cache.set("k", 3, xx=True, ttl=50) is True
    assert 49 < (await cache.ttl("k") or 0) <= 50
    assert await cache.set("k2", 4, nx=True, ttl=None) is True
    with pytest.raises(ValueError, match="mutually exclusive"):
        await cache.set("k", 5, nx=True, xx=True)


async def test_ttl_management(cache: CacheClient) -> None:
    """set with ttl, read ttl, expire, refresh, persist."""
    await cache.set("t", "v", ttl=10)
    remaining = await cache.ttl("t")
    assert remaining is not None
    assert 9.0 < remaining <= 10.0
    await cache.set("forever", "v", ttl=None)
    assert await cache.ttl("forever") == math.inf
    assert await cache.ttl("missing") is None
    assert await cache.expire("forever", 5) is True
    assert (await cache.ttl("forever") or 0) <= 5.0
    assert await cache.persist("forever") is True
    assert await cache.ttl("forever") == math.inf
    assert await cache.refresh("t", 100) is True
    assert (await cache.ttl("t") or 0) > 99
    assert await cache.expire("missing", 1) is False


async def test_default_ttl_applies(make_cache: Callable[..., CacheClient]) -> None:
    """default_ttl is used when ttl is omitted and refresh() falls back to it."""
    client = make_cache(key_prefix="d:", default_ttl=30)
    await client.set("a", 1)
    assert 29 < (await client.ttl("a") or 0) <= 30
    await client.set("b", 1, ttl=None)
    assert await client.ttl("b") == math.inf
    assert await client.refresh("b") is True
    assert 29 < (await client.ttl("b") or 0) <= 30
    assert client.default_ttl == 30


async def test_refresh_without_default_ttl(cache: CacheClient) -> None:
    """refresh() without ttl or default is a ValueError."""
    with pytest.raises(ValueError, match="needs a ttl"):
        await cache.refresh("k")


@pytest.mark.parametrize("ttl", [0, -1, float("nan")])
async def test_invalid_ttl(cache: CacheClient, ttl: float) -> None:
    """Non-positive TTLs are rejected before reaching the server."""
    with pytest.raises(ValueError, match="ttl must be > 0"):
        await cache.set("k", 1, ttl=ttl)


async def test_multi_key_commands(cache: CacheClient, fake_redis: FakeAsyncRedis) -> None:
    """mset/mget/exists/delete prefix every key."""
    await cache.mset({"a": 1, "b": 2})
    assert await fake_redis.mget(["app:a", "app:b"]) == [b"1", b"2"]
    assert await cache.mget(["a", "b", "c"]) == [b"1", b"2", None]
    assert await cache.mget([]) == []
    assert await cache.exists("a", "b", "c") == 2
    assert await cache.exists() == 0
    assert await cache.delete("a", "c") == 1
    assert await cache.delete() == 0
    assert await cache.exists("a") == 0


async def test_mset_with_ttl(cache: CacheClient) -> None:
    """mset with a ttl sets every key with that expiry."""
    await cache.mset({"x": 1, "y": 2}, ttl=20)
    assert await cache.mget(["x", "y"]) == [b"1", b"2"]
    for key in ("x", "y"):
        assert 19 < (await cache.ttl(key) or 0) <= 20
    await cache.mset({})
    assert await cache.exists("x", "y") == 2


async def test_incr_decr(cache: CacheClient) -> None:
    """incr/decr create the counter at 0."""
    assert await cache.incr("n") == 1
    assert await cache.incr("n", 5) == 6
    assert await cache.decr("n", 2) == 4
    assert await cache.decr("m") == -1


async def test_values_round_trip(cache: CacheClient) -> None:
    """set_value/get_value serialize through the serializer."""
    assert await cache.set_value("obj", {"a": [1, 2]}, ttl=5) is True
    assert await cache.get_value("obj") == {"a": [1, 2]}
    assert await cache.get_value("missing", default="d") == "d"
    assert await cache.set_value("obj", 1, nx=True) is False


async def test_custom_serializer(fake_redis: FakeAsyncRedis) -> None:
    """A serializer passed to the client is used for values."""
    client = CacheClient(CacheSettings(health_check=False), redis=fake_redis, serializer=RawSerializer())
    await client.set_value("raw", "text")
    assert await client.get_value("raw") == b"text"
    assert isinstance(client.serializer, RawSerializer)


async def test_get_or_set_computes_once(cache: CacheClient) -> None:
    """20 concurrent callers of a missing key share one computation."""
    calls = 0

    async def factory() -> dict[str, int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.02)
        return {"v": 42}

    results = await asyncio.gather(*(cache.get_or_set("gs", factory, ttl=10) for _ in range(20)))
    assert results == [{"v": 42}] * 20
    assert calls == 1
    assert await cache.get_value("gs") == {"v": 42}
    assert await cache.get_or_set("gs", factory) == {"v": 42}
    assert calls == 1
    assert await cache.exists("gs:get_or_set.lock") == 0


async def test_get_or_set_error_propagates_to_all(cache: CacheClient) -> None:
    """A failing factory fails every waiter and caches nothing."""

    async def factory() -> int:
        await asyncio.sleep(0.01)
        raise RuntimeError("boom")

    results = await asyncio.gather(
        *(cache.get_or_set("bad", factory) for _ in range(3)), return_exceptions=True
    )
    assert [type(r) for r in results] == [RuntimeError] * 3
    assert await cache.exists("bad") == 0


async def test_get_or_set_leader_cancelled(cache: CacheClient) -> None:
    """When the computing task is cancelled, a waiter takes over and computes."""
    started = asyncio.Event()
    calls = 0

    async def slow() -> int:
        nonlocal calls
        calls += 1
        started.set()
        await asyncio.sleep(0.05 if calls > 1 else 10)
        return calls

    leader = asyncio.create_task(cache.get_or_set("lc", slow))
    await started.wait()
    waiter = asyncio.create_task(cache.get_or_set("lc", slow))
    await asyncio.sleep(0.01)
    leader.cancel()
    assert await waiter == 2
    assert leader.cancelled()


async def test_get_or_set_lock_busy_computes_anyway(cache: CacheClient) -> None:
    """If another process holds the fill lock too long the value is computed anyway."""
    other = cache.lock("busy:get_or_set.lock", ttl=5)
    await other.acquire()

    async def factory() -> str:
        return "computed"

    assert await cache.get_or_set("busy", factory, lock_timeout=0.05) == "computed"
    assert await cache.get_value("busy") == "computed"
    await other.release()


async def test_scan_keys_and_clear(cache: CacheClient, fake_redis: FakeAsyncRedis) -> None:
    """scan_keys returns unprefixed keys of the namespace only; clear deletes them."""
    await fake_redis.set("other:k", 1)
    await cache.mset({"a:1": 1, "a:2": 2, "b": 3})
    assert sorted([k async for k in cache.scan_keys()]) == ["a:1", "a:2", "b"]
    assert sorted([k async for k in cache.scan_keys("a:*")]) == ["a:1", "a:2"]
    assert await cache.clear("a:*", batch=1) == 2
    assert await cache.clear() == 1
    assert await fake_redis.get("other:k") == b"1"


async def test_clear_refuses_without_prefix(make_cache: Callable[..., CacheClient]) -> None:
    """clear() on an unprefixed client refuses to wipe the database."""
    with pytest.raises(CacheError, match="needs a key prefix"):
        await make_cache().clear()


async def test_with_prefix_nests_once(cache: CacheClient, fake_redis: FakeAsyncRedis) -> None:
    """with_prefix() nests namespaces without doubling the parent prefix."""
    child = cache.with_prefix("tenant:")
    await child.set("k", "v")
    assert await fake_redis.get("app:tenant:k") == b"v"
    assert [k async for k in child.scan_keys()] == ["k"]
    assert child.prefix.prefix == "app:tenant:"
    await child.aclose()
    assert await cache.get("tenant:k") == b"v"  # the shared pool is still open


async def test_pipeline_prefixes_and_chains(cache: CacheClient, fake_redis: FakeAsyncRedis) -> None:
    """Pipelines prefix every queued command, including multi-key ones."""
    async with cache.pipeline() as pipe:
        pipe.set("a", 1).set("b", 2, ttl=5).incr("n", 3).decr("n").get("a")
        pipe.mset({"c": 3}).mget(["a", "c"]).exists("a", "b").set_value("v", [1])
        pipe.expire("a", 9).pttl("a").persist("a").delete("c")
        assert len(pipe) == 13
        assert pipe.transaction is False
        replies = await pipe.execute()
    assert replies[:5] == [True, True, 3, 2, b"1"]
    assert replies[5:8] == [True, [b"1", b"3"], 2]
    assert replies[9] is True
    assert 8000 < replies[10] <= 9000
    assert replies[11:] == [True, 1]
    assert sorted(await fake_redis.keys("*")) == [b"app:a", b"app:b", b"app:n", b"app:v"]


async def test_transactional_pipeline(cache: CacheClient) -> None:
    """A transactional pipeline runs atomically and an empty one returns []."""
    async with cache.pipeline(transaction=True) as pipe:
        assert await pipe.execute() == []
        pipe.set("x", 1).incr("x")
        assert await pipe.execute() == [True, 2]
    assert await cache.get("x") == b"2"


async def test_command_error_translated(cache: CacheClient) -> None:
    """A WRONGTYPE reply becomes a CacheError chained to the redis error."""
    await cache.redis.lpush(cache.key("list"), "x")
    with pytest.raises(CacheError, match="WRONGTYPE") as info:
        await cache.get("list")
    assert type(info.value.__cause__).__name__ == "ResponseError"
    with pytest.raises(CacheError, match="WRONGTYPE"):
        await cache.incr("list")
    async with cache.pipeline() as pipe:
        pipe.incr("list")
        with pytest.raises(CacheError, match="WRONGTYPE"):
            await pipe.execute()
    with pytest.raises(CacheError, match="WRONGTYPE"):
        await cache.decr("list")


async def test_server_down_raises_unavailable(fake_server: FakeServer, cache: CacheClient) -> None:
    """With the server down every command fails fast with CacheUnavailableError."""
    fake_server.connected = False
    with pytest.raises(CacheUnavailableError, match=r"3 attempts over .* of the 2s reconnection window"):
        await cache.get("k")
    with pytest.raises(CacheUnavailableError):
        await cache.set("k", 1)
    async with cache.pipeline() as pipe:
        pipe.set("k", 1)
        with pytest.raises(CacheUnavailableError):
            await pipe.execute()
    with pytest.raises(CacheUnavailableError, match="did not answer PING"):
        await cache.health_check()
    with pytest.raises(CacheUnavailableError):
        await cache.ping()


async def test_recovers_when_server_returns(
    fake_server: FakeServer, make_cache: Callable[..., CacheClient], fast_retry: Callable[..., dict[str, Any]]
) -> None:
    """Commands issued while the server is down succeed once it is back within the window."""
    client = make_cache(key_prefix="r:", resilience=fast_retry(attempts=50, total_timeout=5))
    await client.set("k", "before")
    fake_server.connected = False

    async def bring_back() -> None:
        await asyncio.sleep(0.05)
        fake_server.connected = True

    restore = asyncio.create_task(bring_back())
    assert await client.get("k") == b"before"
    async with client.pipeline(transaction=True) as pipe:
        fake_server.connected = False
        asyncio.get_running_loop().call_later(0.05, setattr, fake_server, "connected", True)
        pipe.set("p", 1).get("p")
        assert await pipe.execute() == [True, b"1"]
    await restore
    fake_server.connected = False
    asyncio.get_running_loop().call_later(0.05, setattr, fake_server, "connected", True)
    assert await client.set("k", "after") is True
    assert await client.ping() is True


async def test_health_check_registration(fake_redis: FakeAsyncRedis, fake_server: FakeServer) -> None:
    """The client registers a PING readiness check and removes it on close."""
    registry = HealthRegistry(cache_ttl=0)
    settings = CacheSettings(health_check_name="cache-test")
    client = CacheClient(settings, redis=fake_redis, health_registry=registry)
    assert registry.names == ["cache-test"]
    report = await registry.readiness()
    assert report.status == HealthStatus.HEALTHY
    fake_server.connected = False
    report = await registry.readiness()
    assert report.status == HealthStatus.UNHEALTHY
    fake_server.connected = True
    client.register_health_check(registry, name="renamed", critical=False)
    assert registry.names == ["renamed"]
    await client.aclose()
    await client.aclose()  # idempotent
    assert registry.names == []


def test_decode_responses_rejected() -> None:
    """A client that decodes responses would break bytes/str typing: rejected."""
    with pytest.raises(ConfigurationError, match="decode_responses=False"):
        CacheClient(CacheSettings(health_check=False), redis=FakeAsyncRedis(decode_responses=True))


def test_repr_and_url_hide_password() -> None:
    """repr and url never show the password of the URL."""
    client = CacheClient.from_url(
        "redis://user:s3cr3t-pw@localhost:6399/1", key_prefix="p:", health_check=False
    )
    assert "s3cr3t-pw" not in repr(client)
    assert "s3cr3t-pw" not in client.url
    assert repr(client).startswith("CacheClient(url='redis://user:")
    assert client.link.retry.total_timeout == 10.0  # the window is a duration
    assert client.link.breaker is not None
    assert client.link.breaker.reset_timeout == 2.0


def test_describe_redis_without_url(make_cache: Callable[..., CacheClient]) -> None:
    """Without a URL the description comes from the pool, without credentials."""
    client = make_cache()
    assert client.url.startswith("redis://")
    assert client.url.endswith(":6379/0")


async def test_pipeline_queue_emptied_after_recovery(
    fake_server: FakeServer, make_cache: Callable[..., CacheClient], fast_retry: Callable[..., dict[str, Any]]
) -> None:
    """A batch replayed after a connection error is not sent again by the next execute()."""
    client = make_cache(key_prefix="r:", resilience=fast_retry(attempts=50, total_timeout=5))
    async with client.pipeline() as pipe:
        fake_server.connected = False
        asyncio.get_running_loop().call_later(0.05, setattr, fake_server, "connected", True)
        pipe.set("n", 1)
        assert await pipe.execute() == [True]
        assert len(pipe) == 0
        assert await pipe.execute() == []
        pipe.set("m", 11)
        assert await pipe.execute() == [True]
    assert await client.mget(["n", "m"]) == [b"1", b"11"]


async def test_get_or_set_lost_lock_still_returns_value(
    cache: CacheClient, fake_redis: FakeAsyncRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """A get_or_set whose lock was taken over meanwhile returns and stores its value, logging the loss."""

    async def factory() -> int:
        await fake_redis.delete("app:report:get_or_set.lock")  # expired or taken over
        return 7

    with caplog.at_level(logging.WARNING, logger="internal_cache"):
        assert await cache.get_or_set("report", factory, ttl=30) == 7
    assert await cache.get_value("report") == 7
    assert any("releasing its lock failed" in r.getMessage() for r in caplog.records)
