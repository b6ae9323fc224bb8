"""CacheClient on a real Redis Cluster (six local nodes): slots, multi-key rules, scans, locks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from internal_cache import CacheClient, CacheCrossSlotError
from internal_testing import RedisCluster

MakeClient = Callable[..., CacheClient]


def _primaries_of(cluster: RedisCluster, keys: list[str]) -> set[tuple[str, int]]:
    return {cluster.primary_for(key) for key in keys}


async def test_commands_spread_over_every_primary(
    make_cluster_client: MakeClient, redis_cluster: RedisCluster
) -> None:
    """Typed commands reach the node of each key; keys land on every primary."""
    cache = make_cluster_client()
    keys = [f"k{i}" for i in range(60)]
    assert _primaries_of(redis_cluster, [cache.key(k) for k in keys]) == set(redis_cluster.primaries())
    for i, key in enumerate(keys):
        assert await cache.set(key, i, ttl=60)
    assert [await cache.get(k) for k in keys[:5]] == [b"0", b"1", b"2", b"3", b"4"]
    assert await cache.incr("counter", 5) == 5
    assert await cache.decr("counter") == 4
    assert 59 < (await cache.ttl("k0") or 0) <= 60
    assert await cache.set_value("user", {"name": "Ada"})
    assert await cache.get_value("user") == {"name": "Ada"}
    assert cache.mode == "cluster"
    assert await cache.ping()
    assert await cache.health_check()


async def test_multi_key_commands_split_per_slot(make_cluster_client: MakeClient) -> None:
    """mget/delete/exists span slots (one command per slot); replies keep the caller's order."""
    cache = make_cluster_client()
    keys = [f"m{i}" for i in range(20)]
    for i, key in enumerate(keys):
        await cache.set(key, i)
    assert await cache.mget([*keys, "missing"]) == [str(i).encode() for i in range(20)] + [None]
    assert await cache.exists(*keys, "missing") == 20
    assert await cache.delete(*keys[:10], "missing") == 10
    assert await cache.exists(*keys) == 10


async def test_mset_across_slots_is_refused_naming_keys(make_cluster_client: MakeClient) -> None:
    """mset promises atomicity: keys of several slots raise CacheCrossSlotError; nothing is written."""
    cache = make_cluster_client()
    with pytest.raises(CacheCrossSlotError) as info:
        await cache.mset({"foo": 1, "bar": 2})
    assert "'foo'" in str(info.value)
    assert "'bar'" in str(info.value)
    assert len(info.value.slots) == 2
    assert await cache.mget(["foo", "bar"]) == [None, None]
    with pytest.raises(CacheCrossSlotError):
        await cache.mset({"foo": 1, "bar": 2}, ttl=30)
    assert await cache.exists("foo", "bar") == 0


async def test_same_slot_prefix_allows_atomic_multi_key_work(
    make_cluster_client: MakeClient, redis_cluster: RedisCluster
) -> None:
    """A hash-tagged view keeps its keys in one slot: mset, transactions and pipelines work."""
    cache = make_cluster_client()
    user = cache.with_prefix("user:42", same_slot=True)
    assert len({redis_cluster.keyslot(user.key(k)) for k in ("a", "b", "c")}) == 1
    await user.mset({"a": 1, "b": 2})
    await user.mset({"c": 3}, ttl=30)
    assert await user.mget(["a", "b", "c"]) == [b"1", b"2", b"3"]
    async with user.pipeline(transaction=True) as pipe:
        pipe.set("balance", 10).decr("balance", 3).get("balance").delete("a", "b")
        assert await pipe.execute() == [True, 7, b"7", 2]
    assert await user.ttl("c") is not None


async def test_pipelines_split_per_node_or_refuse_clearly(make_cluster_client: MakeClient) -> None:
    """A plain pipeline spans nodes; a transaction or multi-key command across slots is refused, queued."""
    cache = make_cluster_client()
    async with cache.pipeline() as pipe:
        for i in range(100):
            pipe.set(f"p{i}", i, ttl=60)
        pipe.incr("pc").get("p7").pttl("p8").expire("p9", 30).persist("p10")
        assert len(pipe) == 105
        replies = await pipe.execute()
    assert replies[:100] == [True] * 100
    assert replies[100:103] == [1, b"7", replies[102]]
    assert 0 < replies[102] <= 60_000
    assert replies[103:] == [True, True]
    async with cache.pipeline(transaction=True) as pipe:
        pipe.set("foo", 1)
        with pytest.raises(CacheCrossSlotError, match="transaction") as info:
            pipe.set("bar", 2)
        assert info.value.slots  # both keys named by slot
        assert await pipe.execute() == [True]  # the refused command was not queued
    async with cache.pipeline() as pipe:
        with pytest.raises(CacheCrossSlotError, match="pipeline delete"):
            pipe.delete("foo", "bar")
        with pytest.raises(CacheCrossSlotError, match="pipeline exists"):
            pipe.exists("foo", "bar")
        with pytest.raises(CacheCrossSlotError, match="pipeline mget"):
            pipe.mget(["foo", "bar"])
        with pytest.raises(CacheCrossSlotError, match="pipeline mset"):
            pipe.mset({"foo": 1, "bar": 2})
        assert len(pipe) == 0
        pipe.mget(["{t}a", "{t}b"])
        assert await pipe.execute() == [[None, None]]


async def test_raw_cross_slot_command_names_its_keys(make_cluster_client: MakeClient) -> None:
    """A raw multi-key command across slots: CacheCrossSlotError naming the keys, not a redis-py error."""
    cache = make_cluster_client()
    with pytest.raises(CacheCrossSlotError) as info:
        await cache.call(cache.redis.execute_command, "MGET", cache.key("foo"), cache.key("bar"))
    assert cache.key("foo") in str(info.value)
    assert cache.key("bar") in str(info.value)


async def test_scan_and_clear_cover_every_primary(
    make_cluster_client: MakeClient, redis_cluster: RedisCluster
) -> None:
    """scan_keys/clear visit every primary; lock fencing counters survive clear()."""
    cache = make_cluster_client()
    keys = {f"s{i}" for i in range(200)}
    async with cache.pipeline() as pipe:
        for key in keys:
            pipe.set(key, 1)
        await pipe.execute()
    assert len(_primaries_of(redis_cluster, [cache.key(k) for k in keys])) == 3
    async with cache.lock("job") as lock:
        first = lock.fencing_token
    assert {k async for k in cache.scan_keys()} == keys
    assert {k async for k in cache.scan_keys("s1*")} == {k for k in keys if k.startswith("s1")}
    assert await cache.clear() == 200
    assert [k async for k in cache.scan_keys()] == []
    async with cache.lock("job") as lock:
        assert lock.fencing_token > first


async def test_locks_keep_their_fence_in_the_lock_slot(
    make_cluster_client: MakeClient, redis_cluster: RedisCluster
) -> None:
    """One key per lock; the fencing counter shares its slot; tokens grow; contention is exclusive."""
    cache = make_cluster_client()
    other = make_cluster_client()
    for name, tagged in (("jobs:nightly", False), ("{tenant:9}:job", True), ("x{y", False)):
        lock = cache.lock(name, ttl=5)
        async with lock:
            token = lock.fencing_token
            key = cache.key(name)
            fence = "__lock_fence__:" + (key if tagged else "{" + key + "}")
            assert await cache.redis.get(fence) == str(token).encode()
            assert redis_cluster.keyslot(fence) == redis_cluster.keyslot(lock.key)
            assert not await other.lock(name, timeout=0).acquire(blocking=False)
        again = other.lock(name)
        async with again:
            assert again.fencing_token == token + 1
    with pytest.raises(ValueError, match="hash slot"):
        cache.lock("a}b")
    async with cache.lock("a}b", fencing=False):  # no counter: any name works
        assert await cache.exists("a}b") == 1

    async def compute() -> int:
        return 1

    assert await cache.get_or_set("x}y", compute) == 1  # its lock has no counter either


async def test_get_or_set_computes_once(make_cluster_client: MakeClient) -> None:
    """get_or_set on a cluster: concurrent callers in two clients share one computation."""
    first, second = make_cluster_client(), make_cluster_client()
    calls = 0

    async def compute() -> dict[str, int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.2)
        return {"total": 42}

    results = await asyncio.gather(
        *(client.get_or_set("report", compute, ttl=30) for client in (first, second) for _ in range(10))
    )
    assert results == [{"total": 42}] * 20
    assert calls == 1
