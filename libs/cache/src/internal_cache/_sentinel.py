"""Redis Sentinel support: a client of the current master, found through redis-py's ``Sentinel``.

redis-py's :class:`redis.asyncio.sentinel.Sentinel` asks the sentinels for the master's address
each time its pool opens a connection, and drops a connection whose server answers ``READONLY``
(an old master demoted to replica) with a connection error. After a failover the client's
reconnection window therefore reconnects to whichever server the sentinels name next: the
caller sees nothing but a slower call, or :class:`CacheUnavailableError` once the window is used
up. The pool is the cache's :class:`IdleClosingPool` (idle connections are closed) on top of
redis-py's ``SentinelConnectionPool``.

The sentinels are asked once per attempt each (redis-py's own retries are off, so an attempt with
every sentinel down costs one refused connect each, and the reconnection window bounds the call).
When sentinels answer but none monitors the master name, :class:`UnknownMasterError` says so and
the call fails at once: a wrong name is a configuration error, not an outage.
"""

from __future__ import annotations

import contextlib
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from internal_cache._pool import IdleClosingPool
from internal_cache._topology import Topology

__all__ = ["IdleClosingSentinelPool", "UnknownMasterError", "build_sentinel", "close_sentinels"]


class UnknownMasterError(MasterNotFoundError):
    """Sentinels answered, and none of them monitors a master by that name (not retried)."""


def _address(sentinel: aioredis.Redis) -> str:
    kwargs = sentinel.connection_pool.connection_kwargs
    return f"{kwargs.get('host')}:{kwargs.get('port')}"


class _Sentinel(Sentinel):
    """redis-py's ``Sentinel`` whose "no master" errors are short and say why."""

    async def discover_master(self, service_name: str) -> tuple[str, int]:
        """The master's address; errors name each sentinel and what it said (no client reprs)."""
        unreachable: list[str] = []
        unaware: list[str] = []
        not_ready: list[str] = []
        for index, sentinel in enumerate(self.sentinels):
            try:
                masters: dict[str, Any] = await sentinel.sentinel_masters()  # type: ignore[assignment]
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                unreachable.append(f"{_address(sentinel)} ({type(exc).__name__})")
                continue
            state = masters.get(service_name)
            if state is None:
                unaware.append(_address(sentinel))
            elif self.check_master_state(state, service_name):
                self.sentinels[0], self.sentinels[index] = sentinel, self.sentinels[0]
                ip = self._force_master_ip if self._force_master_ip is not None else state["ip"]
                return ip, state["port"]
            else:
                not_ready.append(_address(sentinel))
        if unaware and not not_ready:
            raise UnknownMasterError(
                f"no sentinel monitors a master named {service_name!r} (asked {', '.join(unaware)}"
                + (f"; unreachable: {', '.join(unreachable)}" if unreachable else "")
                + "): check the master name in the URL"
            )
        parts = []
        if not_ready:
            parts.append(f"sentinels that see it down or failing over: {', '.join(not_ready)}")
        if unreachable:
            parts.append(f"unreachable sentinels: {', '.join(unreachable)}")
        raise MasterNotFoundError(f"no master found for {service_name!r} ({'; '.join(parts)})")


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
    sentinel_options = {
        "socket_timeout": connect_timeout,
        "socket_connect_timeout": connect_timeout,
        # One try per sentinel and attempt: the client's window does the retrying.
        "retry": Retry(NoBackoff(), 0),
    }
    manager = _Sentinel(list(topology.nodes), sentinel_kwargs=sentinel_options)  # type: ignore[no-untyped-call]
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
