"""A redis-py connection pool that closes connections left idle after a burst.

redis-py's ``ConnectionPool`` keeps every connection it ever opened: after a burst of 50
concurrent commands it holds 50 sockets (and 50 server-side clients) forever. This pool
notes when each connection is handed back and, ``idle_timeout`` seconds later, closes the
ones nobody took in the meantime. The check is a loop timer armed from :meth:`release`,
so a quiet pool shrinks without any command running, and nothing runs while it is empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection

__all__ = ["IdleClosingPool"]


class IdleClosingPool(aioredis.ConnectionPool):
    """``ConnectionPool`` whose idle connections are closed after ``idle_timeout`` seconds.

    Args:
        idle_timeout: Seconds a connection may sit unused in the pool (0: never close).
        **kwargs: Passed to :class:`redis.asyncio.ConnectionPool`.
    """

    def __init__(self, *, idle_timeout: float = 60.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if idle_timeout < 0:
            raise ValueError(f"idle_timeout must be >= 0, got {idle_timeout!r}")
        self.idle_timeout = idle_timeout
        self._released_at: dict[AbstractConnection, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._idle: asyncio.Event | None = None  # set by release() once nothing is in use

    @property
    def in_use_connections(self) -> int:
        """Connections handed out to commands that have not given them back yet."""
        return len(self._in_use_connections)

    async def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until no connection is in use; True if none is."""
        deadline = time.monotonic() + timeout
        while self._in_use_connections:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._idle is None:
                self._idle = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), remaining)
            self._idle = None
        return True

    @property
    def idle_connections(self) -> int:
        """Connections open in the pool and not in use."""
        return len(self._available_connections)

    async def release(self, connection: AbstractConnection) -> None:
        """Hand ``connection`` back and arm the idle check."""
        await super().release(connection)
        if self._idle is not None and not self._in_use_connections:
            self._idle.set()
        if self.idle_timeout:
            self._released_at[connection] = time.monotonic()
            if self._timer is None:
                self._timer = asyncio.get_running_loop().call_later(self.idle_timeout, self._close_idle)

    def _close_idle(self) -> None:
        self._timer = None
        now = time.monotonic()
        keep: list[AbstractConnection] = []
        stale: list[AbstractConnection] = []
        oldest = now
        for connection in self._available_connections:
            released = self._released_at.get(connection, now)
            if now - released >= self.idle_timeout:
                stale.append(connection)
                self._released_at.pop(connection, None)
            else:
                keep.append(connection)
                oldest = min(oldest, released)
        # A sync callback runs between awaits, so no pool method is midway through the list.
        self._available_connections[:] = keep
        if stale:
            task = asyncio.ensure_future(self._disconnect_all(stale))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        if keep:
            delay = max(0.0, oldest + self.idle_timeout - now)
            self._timer = asyncio.get_running_loop().call_later(delay, self._close_idle)

    @staticmethod
    async def _disconnect_all(connections: list[AbstractConnection]) -> None:
        for connection in connections:
            with contextlib.suppress(OSError):  # already broken: nothing left to close
                await connection.disconnect()

    async def disconnect(self, inuse_connections: bool = True) -> None:
        """Close every connection, including those being closed for idleness."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await super().disconnect(inuse_connections)
        if self._closing:
            await asyncio.wait(set(self._closing))
