"""Redis Sentinel support: a client of the current master, found through redis-py's ``Sentinel``.

redis-py's :class:`redis.asyncio.sentinel.Sentinel` asks the sentinels for the master's address
each time its pool opens a connection, and drops a connection whose server answers ``READONLY``
(an old master demoted to replica) with a connection error. After a failover the client's
reconnection window therefore reconnects to whichever server the sentinels name next: the
caller sees nothing but a slower call, or :class:`CacheUnavailableError` once the window is used
up. The pool is the cache's :class:`IdleClosingPool` (idle connections are closed) on top of
redis-py's ``SentinelConnectionPool``.
"""

from __future__ import annotations

import contextlib

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff

from internal_cache._pool import IdleClosingPool
from internal_cache._topology import Topology

__all__ = ["IdleClosingSentinelPool", "build_sentinel", "close_sentinels"]


class IdleClosingSentinelPool(IdleClosingPool, SentinelConnectionPool):
    """redis-py's ``SentinelConnectionPool`` whose idle connections are closed (see ``IdleClosingPool``)."""


def build_sentinel(
    topology: Topology,
    *,
    timeout: float | None,
    connect_timeout: float,
    max_connections: int,
    health_check_interval: float,
    idle_timeout: float,
) -> aioredis.Redis:
    """A redis-py client of the master that the sentinels of ``topology`` name (connects lazily)."""
    sentinel_options = {"socket_timeout": connect_timeout, "socket_connect_timeout": connect_timeout}
    manager = Sentinel(list(topology.nodes), sentinel_kwargs=sentinel_options)  # type: ignore[no-untyped-call]
    pool = IdleClosingSentinelPool(
        service_name=topology.service,
        sentinel_manager=manager,
        idle_timeout=idle_timeout,
        is_master=True,
        max_connections=max_connections,
        username=topology.username,
        password=topology.password,
        db=topology.db,
        socket_timeout=timeout,
        socket_connect_timeout=connect_timeout,
        health_check_interval=health_check_interval,
        # Reconnection is the client's (one window, at most once for INCR); redis-py must not retry.
        retry=Retry(NoBackoff(), 0),
    )
    return aioredis.Redis.from_pool(pool)


async def close_sentinels(client: aioredis.Redis) -> None:
    """Close the connections to the sentinels of a client made by :func:`build_sentinel`."""
    pool = client.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        for sentinel in pool.sentinel_manager.sentinels:
            with contextlib.suppress(OSError):
                await sentinel.aclose()
