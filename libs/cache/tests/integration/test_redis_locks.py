"""Locks against a real Redis server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from internal_cache import CacheClient


async def test_exclusion_and_fencing_across_clients(make_client: Callable[..., CacheClient]) -> None:
    """Tasks on two pools exclude each other; fencing tokens follow the order of the writes."""
    clients = [make_client(), make_client()]
    observed: list[tuple[int, int]] = []

    async def worker(c: CacheClient) -> None:
        for _ in range(10):
            async with c.lock("counter", ttl=30, timeout=120, retry_interval=0.002) as lock:
                value = int(await c.get("n") or 0) + 1
                await c.set("n", value)
                observed.append((lock.fencing_token, value))

    await asyncio.gather(*(worker(clients[i % 2]) for i in range(10)))
    assert await clients[0].get("n") == b"100"
    observed.sort()
    assert [v for _, v in observed] == list(range(1, 101))
    fences = [f for f, _ in observed]
    assert fences == sorted(set(fences))


async def test_cancel_mid_acquire_leaves_no_key(client: CacheClient) -> None:
    """Cancelling acquire while its request is in flight leaves no orphaned key."""
    lock = client.lock("mid-acquire", ttl=30)
    task = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0)  # the EVALSHA is now on the wire
    task.cancel()
    outcome = await asyncio.gather(task, return_exceptions=True)
    assert isinstance(outcome[0], asyncio.CancelledError)
    await asyncio.gather(*client._pending)
    assert await client.exists("mid-acquire") == 0
    assert lock.token is None


async def test_cancel_mid_release_still_releases(client: CacheClient) -> None:
    """Cancelling the holder while its release is in flight still frees the key."""
    lock = client.lock("mid-release", ttl=30)
    await lock.acquire()
    task = asyncio.create_task(lock.release())
    await asyncio.sleep(0)
    task.cancel()
    outcome = await asyncio.gather(task, return_exceptions=True)
    assert isinstance(outcome[0], asyncio.CancelledError)
    await asyncio.gather(*client._pending)
    assert await client.exists("mid-release") == 0


async def test_scripts_survive_flush(client: CacheClient) -> None:
    """After SCRIPT FLUSH (e.g. a restarted server) locks reload their scripts."""
    async with client.lock("flush", ttl=5):
        pass
    await client.redis.script_flush()
    async with client.lock("flush", ttl=5) as lock:
        assert await lock.owned() is True
    assert await client.exists("flush") == 0
