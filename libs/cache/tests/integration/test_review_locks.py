"""Review cases against real Redis: lock loss callbacks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from internal_cache import CacheClient, Lock


async def test_async_on_lost_callback_is_awaited(make_client: Callable[..., CacheClient]) -> None:
    """An ``async def`` on_lost runs to completion when the lock expires (not a never-awaited coroutine)."""
    client = make_client()
    ran = asyncio.Event()

    async def on_lost(lock: Lock) -> None:
        await asyncio.sleep(0)
        ran.set()

    lock = client.lock("async-cb", ttl=1, on_lost=on_lost)
    await lock.acquire()
    await asyncio.wait_for(ran.wait(), timeout=30)
    assert lock.lost


async def test_async_on_lost_callback_failure_is_logged_not_raised(
    make_client: Callable[..., CacheClient],
) -> None:
    """An async on_lost that raises is contained: the lock is still marked lost and the client closes."""
    client = make_client()
    started = asyncio.Event()

    async def on_lost(lock: Lock) -> None:
        started.set()
        raise RuntimeError("callback bug")

    lock = client.lock("async-cb-raises", ttl=1, on_lost=on_lost)
    await lock.acquire()
    await asyncio.wait_for(started.wait(), timeout=30)
    await asyncio.wait_for(lock.wait_lost(), timeout=30)
    assert lock.lost
    await client.aclose()
    assert not client.link.pending
