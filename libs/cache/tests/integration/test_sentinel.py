"""CacheClient through Redis Sentinel (a master, its replica, three sentinels), and across a failover."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from internal_cache import CacheClient, LockLostError
from internal_testing import RedisSentinel

MakeClient = Callable[..., CacheClient]
#: The reconnection window of the default settings (CacheSettings.resilience.retry.total_timeout).
WINDOW = 10.0


async def test_commands_reach_the_master(
    make_sentinel_client: MakeClient, redis_sentinel: RedisSentinel
) -> None:
    """Through the sentinels the client finds the master: commands, pipelines, locks, scans."""
    cache = make_sentinel_client()
    assert cache.mode == "sentinel"
    assert redis_sentinel.master_name in cache.url
    await cache.mset({"a": 1, "b": 2})
    assert await cache.mget(["a", "b", "c"]) == [b"1", b"2", None]
    async with cache.pipeline(transaction=True) as pipe:
        pipe.set("n", 1).incr("n").get("n")
        assert await pipe.execute() == [True, 2, b"2"]
    async with cache.lock("job", ttl=5) as lock:
        first = lock.fencing_token
    async with cache.lock("job", ttl=5) as lock:
        assert lock.fencing_token == first + 1
    assert {k async for k in cache.scan_keys()} == {"a", "b", "n"}
    assert await cache.clear() == 3
    assert await cache.health_check()
    address = redis_sentinel.master_address()
    assert address is not None
    info = await cache.redis.info("server")
    assert int(info["tcp_port"]) == address[1]


@pytest.mark.slow()
async def test_master_kill_is_ridden_through_and_the_lock_holder_told(
    make_sentinel_client: MakeClient,
    redis_sentinel: RedisSentinel,
    write_stream: Any,
    report: Callable[..., None],
) -> None:
    """SIGKILL the master mid-stream: writers see no error and follow the promoted replica within the
    window, writes acknowledged after the failover are durable, losses are counted; the holder of an
    auto-renewed lock learns it is lost, and a new holder gets a larger fencing token."""
    if not redis_sentinel.managed:
        pytest.skip("Sentinel comes from COMMONS_REDIS_SENTINEL_URL; its master cannot be killed here")
    await asyncio.to_thread(redis_sentinel.wait_healthy, timeout=60)
    cache, holder, rival = make_sentinel_client(), make_sentinel_client(), make_sentinel_client()
    lock = holder.lock("failover-job", ttl=2, auto_renew=True)
    await lock.acquire()
    token = lock.fencing_token
    assert await holder.redis.execute_command("WAIT", 1, 5000) == 1  # the acquisition reached the replica
    async with write_stream(cache) as stream:
        await stream.wait_acked(200)
        old = redis_sentinel.kill_master()
        killed_at = time.monotonic()
        try:
            error = await asyncio.wait_for(lock.wait_lost(), timeout=15)
            learned_after = time.monotonic() - killed_at
            new = await asyncio.to_thread(redis_sentinel.wait_failover, old, timeout=60)
            failed_over_at = time.monotonic()
            settled = len(stream.acked)
            await stream.wait_acked(settled + 300, timeout=30)
        finally:
            redis_sentinel.restart_killed()
    lost = await stream.lost()
    report(
        "sentinel master SIGKILL",
        acknowledged=len(stream.acked),
        lost=len(lost),
        errors=len(stream.errors),
        slowest_call_s=round(stream.slowest, 2),
        failover_seen_after_s=round(failed_over_at - killed_at, 2),
        lock_loss_learned_after_s=round(learned_after, 2),
    )
    assert new != old
    assert stream.errors == []
    assert stream.slowest < WINDOW
    assert await stream.lost(since=failed_over_at) == []
    assert len(lost) < 50
    assert isinstance(error, LockLostError)
    assert learned_after < 2 + 1
    again = rival.lock("failover-job", ttl=5, timeout=15)
    async with again:
        assert again.fencing_token > token
    with pytest.raises(LockLostError):
        await lock.release()
    info = await cache.redis.info("server")
    assert int(info["tcp_port"]) == new[1]
    await asyncio.to_thread(redis_sentinel.wait_healthy, timeout=90)  # the old master is a replica again
