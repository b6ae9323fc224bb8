"""Redis Cluster failover with real processes: a primary is SIGKILLed while clients write and hold locks.

The session's cluster runs with ``cluster-node-timeout 3000``: a killed primary is replaced by its
replica within a few seconds (5 to 7 s on a busy machine). The writers' reconnection window is set
to 20 s, as the README advises for a window that must cover a failover with room to spare. Each test
restarts the killed node (it rejoins as a replica) and waits for a healthy cluster, so the
topology stays usable for the tests after it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster as RawCluster
from redis.crc import key_slot

from internal_cache import CacheClient, LockLostError
from internal_testing import RedisCluster

pytestmark = pytest.mark.slow

MakeClient = Callable[..., CacheClient]
#: The writers' reconnection window (resilience.retry.total_timeout).
WINDOW = 20.0


@dataclass
class Kill:
    """A killed primary: its address, the slots it served, when the failover was seen complete."""

    victim: tuple[str, int]
    slots: tuple[tuple[int, int], ...]
    failed_over_at: float = 0.0

    def served(self, key: str) -> bool:
        """Whether the killed primary served ``key`` (a server-side key)."""
        slot = key_slot(key.encode())
        return any(first <= slot <= last for first, last in self.slots)


@asynccontextmanager
async def killed_primary(cluster: RedisCluster, key: str) -> AsyncIterator[Kill]:
    """SIGKILL the primary serving ``key``; on exit wait for its failover, restart it, wait until healthy."""
    if not cluster.managed:
        pytest.skip("the cluster comes from COMMONS_REDIS_CLUSTER_URL: its nodes cannot be killed")
    victim = cluster.primary_for(key)
    kill = Kill(victim, cluster.topology()[victim][1])
    cluster.kill(victim[1])
    try:
        yield kill
    finally:
        await asyncio.to_thread(cluster.wait_failover, cluster.keyslot(key), old_primary=victim, timeout=60)
        kill.failed_over_at = time.monotonic()
        cluster.restart(victim[1])
        await asyncio.to_thread(cluster.wait_healthy, timeout=60)


async def test_writes_ride_through_a_primary_kill(
    make_cluster_client: MakeClient,
    redis_cluster: RedisCluster,
    write_stream: Any,
    report: Callable[..., None],
) -> None:
    """Writers never see an error while a primary is killed and replaced; every write acknowledged
    after the failover survives; acknowledged writes lost to asynchronous replication are counted."""
    cache = make_cluster_client(resilience={"retry": {"total_timeout": WINDOW}})
    async with write_stream(cache) as stream:
        await stream.wait_acked(200)
        killed_at = time.monotonic()
        async with killed_primary(redis_cluster, cache.key("w:0")) as kill:
            before = len(stream.acked)
            await stream.wait_acked(before + 50, timeout=30)  # the survivors' slots keep working
        settled = len(stream.acked)
        await stream.wait_acked(settled + 300, timeout=30)
    lost = await stream.lost()
    on_victim = [k for k in lost if kill.served(cache.key(k))]
    report(
        "cluster primary SIGKILL",
        acknowledged=len(stream.acked),
        lost=len(lost),
        errors=len(stream.errors),
        slowest_call_s=round(stream.slowest, 2),
        failover_seen_after_s=round(kill.failed_over_at - killed_at, 2),
    )
    assert stream.errors == []
    assert stream.slowest < WINDOW
    assert await stream.lost(since=kill.failed_over_at) == []  # written to the new primary: durable
    assert len(on_victim) == len(lost)  # losses only where the victim's slots were
    assert len(lost) < 50
    assert cache.stats.outages >= 1


async def test_lock_holder_learns_of_a_failover_and_fencing_tokens_keep_growing(
    make_cluster_client: MakeClient, redis_cluster: RedisCluster, report: Callable[..., None]
) -> None:
    """The holder of an auto-renewed lock whose primary dies is told the lock is lost (it cannot renew
    within its ttl); after the failover a new holder gets a larger fencing token."""
    holder, rival = make_cluster_client(), make_cluster_client()
    lost_calls: list[str] = []
    lock = holder.lock("failover-job", ttl=2, auto_renew=True, on_lost=lambda lk: lost_calls.append(lk.name))
    await lock.acquire()
    token = lock.fencing_token
    # Make the acquisition reach the replica first: WAIT 1 replica, up to 5 s.
    assert isinstance(holder.redis, RawCluster)
    node = holder.redis.get_node_from_key(lock.key)
    assert await holder.redis.execute_command("WAIT", 1, 5000, target_nodes=node) == 1
    async with killed_primary(redis_cluster, lock.key):
        killed_at = time.monotonic()
        error = await asyncio.wait_for(lock.wait_lost(), timeout=15)
        learned_after = time.monotonic() - killed_at
        assert isinstance(error, LockLostError)
        assert lost_calls == ["failover-job"]
        with pytest.raises(LockLostError):
            lock.ensure_held()
    again = rival.lock("failover-job", ttl=5, timeout=15)
    async with again:
        assert again.fencing_token > token
    with pytest.raises(LockLostError):
        await lock.release()
    report("cluster lock holder", learned_loss_after_s=round(learned_after, 2), ttl_s=2)
    assert learned_after < 2 + 1  # within the ttl (plus scheduling slack): it never believed longer
