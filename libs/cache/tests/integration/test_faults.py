"""Fault tests with real servers: restarts, outages, two processes, SIGKILL, cancellation."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
from pydantic import SecretStr

from internal_cache import CacheClient, CacheSettings, CacheUnavailableError, LockAcquireTimeout

pytestmark = pytest.mark.slow

T = TypeVar("T")

# A second Python process: ``python -c CHILD <url> <prefix> <mode>``.
#   counter: 10 tasks x 50 locked read-modify-write increments; prints fencing tokens.
#   hold:    acquires lock "held" (ttl 2 s, auto-renewed), prints "acquired", sleeps.
CHILD = r"""
import asyncio, sys
from pydantic import SecretStr
from internal_cache import CacheClient, CacheSettings

async def main(url, prefix, mode):
    settings = CacheSettings(url=SecretStr(url), key_prefix=prefix, health_check=False)
    async with CacheClient(settings) as c:
        if mode == "counter":
            fences = []
            async def worker():
                for _ in range(50):
                    async with c.lock("counter", ttl=30, timeout=120, retry_interval=0.005) as lock:
                        value = int(await c.get("n") or 0)
                        await c.set("n", value + 1)
                        fences.append(lock.fencing_token)
            print("ready", flush=True)
            await asyncio.gather(*(worker() for _ in range(10)))
            print(" ".join(map(str, fences)), flush=True)
        else:
            lock = c.lock("held", ttl=2, auto_renew=True)
            await lock.acquire()
            print("acquired", flush=True)
            await asyncio.sleep(60)

asyncio.run(main(*sys.argv[1:4]))
"""


@asynccontextmanager
async def child(url: str, prefix: str, mode: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run CHILD in a new interpreter; killed on exit if still running."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, url, prefix, mode,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def read_line(proc: asyncio.subprocess.Process, timeout: float = 60) -> str:
    """One stdout line of ``proc``."""
    assert proc.stdout is not None
    return (await asyncio.wait_for(proc.stdout.readline(), timeout)).decode().strip()


async def eventually(call: Callable[[], Awaitable[T]], timeout: float = 20.0) -> T:
    """``await call()`` until it stops raising CacheUnavailableError (the breaker's probe)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await call()
        except CacheUnavailableError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


def dedicated(url: str, *, timeout: float = 1.0, **retry: Any) -> CacheClient:
    """A client for a dedicated server with a short, fast reconnection window (``retry`` overrides)."""
    resilience = {
        "timeout": timeout,
        "retry": {
            "attempts": 200,
            "total_timeout": 5.0,
            "backoff": {"initial": 0.01, "maximum": 0.1},
            **retry,
        },
        "breaker": {"reset_timeout": 0.2},
    }
    settings = CacheSettings(url=SecretStr(url), key_prefix="f:", health_check=False, resilience=resilience)
    return CacheClient(settings)


async def test_recovers_from_restart_mid_run(redis_server_factory: Callable[..., Any]) -> None:
    """The server restarts while commands run; every command succeeds within the window."""
    server = redis_server_factory()
    async with dedicated(server.url) as client:
        await client.set("before", 1)
        stop = asyncio.Event()
        latencies: list[float] = []

        async def load() -> int:
            done = 0
            while not stop.is_set():
                start = time.monotonic()
                await client.set(f"ops:{done}", done)
                async with client.pipeline() as pipe:
                    pipe.set("p", done).get("p")
                    assert await pipe.execute() == [True, str(done).encode()]
                latencies.append(time.monotonic() - start)
                done += 1
            return done

        workers = [asyncio.create_task(load()) for _ in range(5)]
        await asyncio.sleep(0.1)
        await asyncio.to_thread(server.restart)
        await asyncio.sleep(0.2)
        stop.set()
        counts = await asyncio.gather(*workers)
        assert all(n > 0 for n in counts)
        assert max(latencies) < 5.0  # recovered inside the configured window
        assert await client.get("before") is None  # really a new, empty server
        assert await client.exists(*(f"ops:{n - 1}" for n in counts)) == len(counts)
        async with client.lock("after-restart", ttl=1) as lock:  # scripts reloaded
            assert lock.fencing_token > 0


async def test_server_stays_down_clear_error(redis_server_factory: Callable[..., Any]) -> None:
    """A server that stays down yields CacheUnavailableError after the window; then recovery."""
    server = redis_server_factory()
    client = dedicated(server.url, attempts=5, total_timeout=0.5)
    await client.set("k", 1)
    server.stop()
    start = time.monotonic()
    with pytest.raises(CacheUnavailableError, match=f"127.0.0.1:{server.port}"):
        await client.get("k")
    assert time.monotonic() - start < 5.0
    with pytest.raises(CacheUnavailableError, match="circuit open"):
        await client.get("k")  # known down: fails at once
    await asyncio.to_thread(server.start)
    assert await eventually(lambda: client.set("k", 2)) is True  # the next probe
    assert await client.get("k") == b"2"
    await client.aclose()


async def test_hung_server_times_out(redis_server_factory: Callable[..., Any]) -> None:
    """A frozen server (SIGSTOP) never hangs a caller: socket timeouts bound the wait."""
    server = redis_server_factory()
    client = dedicated(server.url, attempts=2, total_timeout=0.5, timeout=0.2)
    await client.set("k", 1)
    server.pause()
    try:
        start = time.monotonic()
        with pytest.raises(CacheUnavailableError):
            await client.get("k")
        assert time.monotonic() - start < 5.0
    finally:
        server.resume()
    assert await eventually(lambda: client.get("k")) == b"1"
    await client.aclose()


async def test_two_processes_exact_counter(make_client: Callable[..., CacheClient], redis_url: str) -> None:
    """20 tasks in 2 processes each add 50 under the lock: the total is exactly 1000."""
    client = make_client()

    async def worker(fences: list[int]) -> None:
        for _ in range(50):
            async with client.lock("counter", ttl=30, timeout=120, retry_interval=0.005) as lock:
                value = int(await client.get("n") or 0)
                await client.set("n", value + 1)
                fences.append(lock.fencing_token)

    async with child(redis_url, client.prefix.prefix, "counter") as proc:
        assert await read_line(proc) == "ready"
        mine: list[int] = []
        await asyncio.gather(*(worker(mine) for _ in range(10)))
        theirs = [int(x) for x in (await read_line(proc, timeout=180)).split()]
        assert await proc.wait() == 0
    assert await client.get("n") == b"1000"
    assert len(mine) == len(theirs) == 500
    first = min(mine + theirs)
    assert sorted(mine + theirs) == list(range(first, first + 1000))  # one fencing token per acquisition
    assert max(mine) - min(mine) + 1 > 500  # the two processes really interleaved


async def test_renewal_keeps_lock_while_others_wait(make_client: Callable[..., CacheClient]) -> None:
    """A holder working 4x its TTL keeps the lock through auto-renewal; waiters get it after."""
    holder_client, waiter_client = make_client(), make_client()
    released_at: list[float] = []
    acquired_at: list[float] = []

    async def holder() -> None:
        async with holder_client.lock("renew", ttl=1.0, auto_renew=True) as lock:
            await asyncio.sleep(2.5)
            lock.ensure_held()
            await lock.verify()
            released_at.append(time.monotonic())

    async def waiter() -> None:
        async with waiter_client.lock("renew", ttl=1.0, timeout=30, retry_interval=0.01):
            acquired_at.append(time.monotonic())

    task = asyncio.create_task(holder())
    while not await holder_client.exists("renew"):  # the holder is in before any waiter
        await asyncio.sleep(0.01)
    await asyncio.gather(task, *(waiter() for _ in range(3)))
    assert len(released_at) == 1
    assert len(acquired_at) == 3
    assert min(acquired_at) >= released_at[0]


async def test_sigkilled_holder_frees_after_ttl(
    make_client: Callable[..., CacheClient], redis_url: str
) -> None:
    """A holder process killed with SIGKILL stops renewing; the lock frees after its TTL."""
    client = make_client()
    async with child(redis_url, client.prefix.prefix, "hold") as proc:
        assert await read_line(proc) == "acquired"
        await asyncio.sleep(2.5)  # past one TTL: the child's renewal is working
        lock = client.lock("held", ttl=1, retry_interval=0.01)
        assert await lock.acquire(blocking=False) is False
        proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        assert await proc.wait() == -signal.SIGKILL
        with pytest.raises(LockAcquireTimeout):
            await lock.acquire(timeout=0.05)
        assert await lock.acquire(timeout=30) is True
        waited = time.monotonic() - killed
    assert 0.05 < waited < 10  # at most the child's TTL (2 s) plus generous scheduling slack
    await lock.release()


async def test_cancelled_holder_releases(make_client: Callable[..., CacheClient]) -> None:
    """Cancelling a holder task (with auto-renewal running) frees the lock at once."""
    client = make_client()
    entered = asyncio.Event()

    async def holder() -> None:
        async with client.lock("cancel-me", ttl=10, auto_renew=True):
            entered.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(holder())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await client.exists("cancel-me") == 0
    other = client.lock("cancel-me", ttl=1)
    assert await other.acquire(blocking=False) is True
    await other.release()


async def test_recovers_from_dropped_connections(redis_server_factory: Callable[..., Any]) -> None:
    """After the server drops every client connection (CLIENT KILL), commands still succeed."""
    server = redis_server_factory()
    async with dedicated(server.url) as client, dedicated(server.url) as killer:
        await asyncio.gather(*(client.set(f"k{i}", i) for i in range(10)))  # fill the pool
        killed = await killer.call(killer.redis.client_kill_filter, _type="normal", skipme=True)
        assert killed >= 1
        assert await asyncio.gather(*(client.get(f"k{i}") for i in range(10))) == [
            str(i).encode() for i in range(10)
        ]
        async with client.lock("after-kill", ttl=1) as lock:
            assert lock.held
