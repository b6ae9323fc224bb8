"""Review cases against real Redis: lock loss callbacks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from internal_cache import CacheClient, CacheSettings, CacheUnavailableError, Lock, LockAcquireTimeout


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


async def test_acquire_timeout_bounds_a_frozen_server(redis_server_factory: Callable[..., Any]) -> None:
    """acquire(timeout=1) on a frozen (SIGSTOPped) server gives up in seconds, not at the socket timeout."""
    server = redis_server_factory()
    settings = CacheSettings(
        url=SecretStr(server.url), key_prefix="frozen:", health_check=False, resilience={"timeout": 30.0}
    )
    client = CacheClient(settings)
    try:
        await client.ping()
        server.pause()
        try:
            started = time.monotonic()
            with pytest.raises(LockAcquireTimeout):
                await client.lock("job", ttl=30).acquire(timeout=1)
            assert time.monotonic() - started < 15
        finally:
            server.resume()
        async with client.lock("job", ttl=30, timeout=30) as lock:  # nothing stranded once it thaws
            assert lock.held
    finally:
        await client.aclose()


async def test_acquire_deadline_cut_does_not_open_the_breaker(
    redis_server_factory: Callable[..., Any],
) -> None:
    """An acquire whose short timeout ends its reconnecting early says so and leaves the circuit closed."""
    server = redis_server_factory()
    client = CacheClient(CacheSettings(url=SecretStr(server.url), key_prefix="cut:", health_check=False))
    try:
        await client.ping()
        server.stop()
        with pytest.raises(CacheUnavailableError, match="deadline"):
            await client.lock("job", ttl=30).acquire(timeout=0.3)
        breaker = client.link.breaker
        assert breaker is not None
        assert breaker.state == "closed"  # other callers still get their full reconnection window
    finally:
        server.start()
        await client.aclose()
