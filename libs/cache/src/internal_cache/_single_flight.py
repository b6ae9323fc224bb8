"""``get_or_set``: compute a missing value once per process, and once across processes.

In this process concurrent callers share one future per key; across processes the
computing caller holds a distributed lock (``<key>:get_or_set.lock``) while the others
wait on it and then read what it stored. If the lock stays busy for ``lock_timeout``
the value is computed anyway: availability over single computation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from redis.typing import EncodableT

from internal_base.logging import get_logger
from internal_cache._connection import AnyRedis, RedisLink
from internal_cache._errors import CacheError, LockAcquireTimeout
from internal_cache._lock import Lock
from internal_cache._serialization import Serializer
from internal_cache._telemetry import METRICS, count_lookup
from internal_cache._types import TTL

__all__ = ["get_or_set"]

_log = get_logger("internal_cache")


class _Cache(Protocol):
    """What single flight needs from a :class:`~internal_cache.CacheClient`."""

    @property
    def redis(self) -> AnyRedis: ...

    @property
    def cluster(self) -> bool: ...

    @property
    def link(self) -> RedisLink: ...

    @property
    def serializer(self) -> Serializer: ...

    def key(self, key: str) -> str: ...

    async def _get_uncounted(self, key: str) -> bytes | None: ...

    async def set(
        self, key: str, value: EncodableT, *, ttl: TTL = ..., nx: bool = ..., xx: bool = ...
    ) -> bool: ...


async def get_or_set(
    cache: _Cache,
    inflight: dict[str, asyncio.Future[Any]],
    key: str,
    factory: Callable[[], Awaitable[Any]],
    *,
    ttl: TTL,
    lock_ttl: float,
    lock_timeout: float,
) -> Any:
    """See :meth:`CacheClient.get_or_set`; ``inflight`` holds this process's computations."""
    data = await cache._get_uncounted(key)
    if METRICS.on:
        count_lookup(data is not None, "get_or_set")
    if data is not None:
        return cache.serializer.loads(data)
    while True:
        flight = inflight.get(key)
        if flight is None:
            break
        try:
            return await asyncio.shield(flight)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if flight.cancelled() and task is not None and not task.cancelling():
                continue  # the leader was cancelled, not us: try again
            raise
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    inflight[key] = future
    try:
        value = await _fill(cache, key, factory, ttl, lock_ttl, lock_timeout)
    except asyncio.CancelledError:
        future.cancel()
        raise
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # mark retrieved: nobody may be waiting
        raise
    else:
        future.set_result(value)
        return value
    finally:
        del inflight[key]


async def _fill(
    cache: _Cache,
    key: str,
    factory: Callable[[], Awaitable[Any]],
    ttl: TTL,
    lock_ttl: float,
    lock_timeout: float,
) -> Any:
    lock = Lock(
        cache, f"{key}:get_or_set.lock", ttl=lock_ttl, timeout=lock_timeout, auto_renew=True, fencing=False
    )
    try:
        await lock.acquire()
    except LockAcquireTimeout:
        _log.warning("get_or_set(%r): lock busy for %.1fs; computing anyway", key, lock_timeout)
        return await _compute(cache, key, factory, ttl)
    try:
        data = await cache._get_uncounted(key)
        if data is not None:
            return cache.serializer.loads(data)
        return await _compute(cache, key, factory, ttl)
    finally:
        try:
            await lock.release()
        except CacheError as exc:  # lost or Redis down: the value is computed either way
            _log.warning("get_or_set(%r): releasing its lock failed: %s", key, exc)


async def _compute(cache: _Cache, key: str, factory: Callable[[], Awaitable[Any]], ttl: TTL) -> Any:
    value = await factory()
    await cache.set(key, cache.serializer.dumps(value), ttl=ttl)
    return value
