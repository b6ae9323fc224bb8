"""Review cases against real Redis: restarts with default settings, cancellation storms,
at-most-once commands, idle pool shrink and binary keys."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from internal_cache import CacheClient, CacheError, CacheSettings, CacheUnavailableError

pytestmark = pytest.mark.slow


def defaults(url: str) -> CacheClient:
    """A client with every resilience setting at its default."""
    return CacheClient(CacheSettings(url=SecretStr(url), key_prefix="d:", health_check=False))


@pytest.mark.parametrize("downtime", [1.0, 3.0])
async def test_default_window_rides_through_restart(
    redis_server_factory: Callable[..., Any], downtime: float
) -> None:
    """With default settings, commands issued while Redis restarts succeed once it is back."""
    server = redis_server_factory()
    async with defaults(server.url) as client:
        await client.set("k", "before")
        await asyncio.to_thread(server.stop)
        stopped = time.monotonic()
        writes = [asyncio.create_task(client.set(f"w{i}", i)) for i in range(5)]
        read = asyncio.create_task(client.get("k"))
        await asyncio.sleep(downtime)
        await asyncio.to_thread(server.start)
        assert await asyncio.wait_for(asyncio.gather(*writes), 30) == [True] * 5
        assert await asyncio.wait_for(read, 30) is None  # a new, empty server
        assert time.monotonic() - stopped >= downtime
        assert await client.get("w4") == b"4"
        assert client.stats.failures == 0
        assert client.stats.outages == client.stats.recoveries == 1


async def test_window_error_says_what_was_tried(unused_tcp_port: int) -> None:
    """After the window the error names the attempts and the time they really took."""
    client = CacheClient.from_url(
        f"redis://127.0.0.1:{unused_tcp_port}/0",
        health_check=False,
        resilience={"retry": {"total_timeout": 1.5}},
    )
    start = time.monotonic()
    with pytest.raises(CacheUnavailableError, match=r"could not be reached: \d+ attempts over") as info:
        await client.get("k")
    elapsed = time.monotonic() - start
    assert 1.4 <= elapsed < 10
    message = str(info.value)
    attempts = int(message.split("could not be reached: ")[1].split(" attempts")[0])
    assert attempts >= 3
    reported = float(message.split(" attempts over ")[1].split("s of the")[0])
    assert 1.3 <= reported <= elapsed + 0.1
    assert "of the 1.5s reconnection window" in message
    await client.aclose()


async def test_incr_not_replayed_after_lost_reply(redis_server_factory: Callable[..., Any]) -> None:
    """An INCRBY whose reply is lost raises instead of running a second time."""
    server = redis_server_factory()
    settings = CacheSettings(
        url=SecretStr(server.url), key_prefix="i:", health_check=False, resilience={"timeout": 0.5}
    )
    async with CacheClient(settings) as client:
        assert await client.incr("n") == 1  # a pooled connection: the next command is sent at once
        server.pause()  # INCRBY is written to the socket, then no reply comes
        try:
            with pytest.raises(CacheUnavailableError, match="may have run; not retried"):
                await client.incr("n")
        finally:
            server.resume()  # the frozen server now runs the buffered INCRBY once
        deadline = time.monotonic() + 10
        while await client.get("n") != b"2" and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a replay would land within this
        assert await client.get("n") == b"2"
        assert client.stats.not_retried == 1


async def test_raw_call_not_replayed_after_lost_reply(redis_server_factory: Callable[..., Any]) -> None:
    """call() of a raw command is not replayed once sent, unless declared idempotent."""
    server = redis_server_factory()
    settings = CacheSettings(
        url=SecretStr(server.url), key_prefix="c:", health_check=False, resilience={"timeout": 0.5}
    )
    async with CacheClient(settings) as client:
        key = client.key("list")
        assert await client.ping() is True  # a pooled connection: the next command is sent at once
        server.pause()
        try:
            with pytest.raises(CacheUnavailableError, match="may have run"):
                await client.call(client.redis.rpush, key, "x")
        finally:
            server.resume()
        deadline = time.monotonic() + 10
        while await client.redis.llen(key) != 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert await client.redis.llen(key) == 1
        assert await client.call(client.redis.llen, key, idempotent=True) == 1


async def test_cancelled_waiters_never_hold_the_lock(make_client: Callable[..., CacheClient]) -> None:
    """Waiters cancelled or timed out at random instants stop waiting and never hold the lock."""
    client = make_client()
    holder = client.lock("contended", ttl=60)
    await holder.acquire()
    rng = random.Random(9)

    async def waiter(index: int) -> str:
        lock = client.lock("contended", ttl=60, timeout=None, retry_interval=0.002, auto_renew=index % 2 == 0)
        try:
            if index % 3 == 0:
                await asyncio.wait_for(lock.acquire(), rng.uniform(0.001, 0.05))
            else:
                async with asyncio.timeout(rng.uniform(0.001, 0.05)):
                    await lock.acquire()
        except TimeoutError:
            assert lock.token is None
            return "timed out"
        return "acquired"

    async def cancelled(index: int) -> None:
        lock = client.lock("contended", ttl=60, timeout=None, retry_interval=0.002, auto_renew=index % 2 == 0)
        task = asyncio.create_task(lock.acquire())
        await asyncio.sleep(rng.uniform(0.0, 0.05))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert lock.token is None

    for _ in range(10):
        timed = [asyncio.create_task(waiter(i)) for i in range(30)]
        killed = [asyncio.create_task(cancelled(i)) for i in range(10)]
        done, pending = await asyncio.wait([*timed, *killed], timeout=30)
        for task in pending:
            task.cancel()
        assert not pending, f"{len(pending)} waiters kept waiting after their cancellation"
        assert [t.result() for t in timed] == ["timed out"] * 30
        assert [t.result() for t in killed] == [None] * 10
    await client.link.drain(10)
    assert await holder.owned() is True
    await holder.release()
    assert await client.exists("contended") == 0


async def test_timeout_around_acquire_is_punctual(make_client: Callable[..., CacheClient]) -> None:
    """asyncio.timeout(t) around a blocked acquire raises TimeoutError after about t."""
    client = make_client()
    holder = client.lock("punctual", ttl=60)
    await holder.acquire()
    lock = client.lock("punctual", ttl=60, timeout=None, retry_interval=0.001, auto_renew=True)
    for _ in range(20):
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await lock.acquire()
        assert 0.2 <= time.monotonic() - start < 3.0
        assert lock.token is None
    await holder.release()


async def test_pool_closes_idle_connections(make_client: Callable[..., CacheClient]) -> None:
    """After a burst, pooled connections left idle for pool_idle_timeout are closed."""
    client = make_client(pool_idle_timeout=0.5)
    assert isinstance(client.redis, aioredis.Redis)
    pool: aioredis.ConnectionPool = client.redis.connection_pool
    blockers = [client.call(client.redis.blpop, [client.key(f"q{i}")], 0.2) for i in range(20)]
    assert await asyncio.gather(*blockers) == [None] * 20
    opened = list(pool._available_connections)
    assert len(opened) == 20
    deadline = time.monotonic() + 20
    while pool._available_connections and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert pool._available_connections == []
    await client.link.drain(1)
    deadline = time.monotonic() + 10
    while any(c.is_connected for c in opened) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not any(c.is_connected for c in opened)
    assert await client.set("again", 1) is True  # the pool opens a new connection on demand


async def test_binary_keys_in_namespace(client: CacheClient) -> None:
    """A non-UTF-8 key makes scan_keys raise CacheError; clear() still deletes it."""
    await client.redis.set(client.key("ok"), 1)
    await client.redis.set(client.key("").encode() + b"\xff\xfe", 2)
    with pytest.raises(CacheError, match="not valid UTF-8"):
        _ = [key async for key in client.scan_keys()]
    assert await client.clear() == 2
    assert [key async for key in client.redis.scan_iter(match=client.key("*"))] == []
