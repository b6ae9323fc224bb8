"""Prefixed pipelines: the client's typed commands, queued and sent in one round trip."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Protocol

import redis.asyncio as aioredis
import redis.exceptions
from redis.typing import EncodableT

from internal_cache._connection import CONNECTION_ERRORS, RedisLink, Replay
from internal_cache._keys import KeyPrefix
from internal_cache._serialization import Serializer
from internal_cache._types import DEFAULT, TTL, set_command, ttl_to_ms

if TYPE_CHECKING:
    from redis.asyncio.client import Pipeline

__all__ = ["CachePipeline"]

_CONN: Final = CONNECTION_ERRORS
_RedisError: Final = redis.exceptions.RedisError


class _Owner(Protocol):
    """What a pipeline needs from its :class:`~internal_cache.CacheClient`."""

    @property
    def redis(self) -> aioredis.Redis: ...

    @property
    def link(self) -> RedisLink: ...

    @property
    def prefix(self) -> KeyPrefix: ...

    @property
    def default_ttl(self) -> float | None: ...

    @property
    def serializer(self) -> Serializer: ...


class CachePipeline:
    """Queue prefixed commands and send them at once with :meth:`execute`.

    Created by :meth:`CacheClient.pipeline`. Each queueing method returns the
    pipeline so calls chain; :meth:`execute` returns the replies in order (raw
    redis-py replies: ``True`` for SET, ``bytes | None`` for GET, ...). With
    ``transaction=True`` the batch runs inside MULTI/EXEC. When the connection
    drops, the whole batch is replayed under the client's reconnection policy if
    every queued command is idempotent, or if nothing had been sent yet; a batch
    holding ``incr``/``decr``/``set(nx=True)`` that may have run raises
    :class:`CacheUnavailableError` instead of running twice.

    Example::

        async with client.pipeline(transaction=True) as pipe:
            pipe.set("a", 1).incr("counter")
            ok, counter = await pipe.execute()
    """

    __slots__ = ("_client", "_default_px", "_once", "_p", "_pipe", "_transaction")

    def __init__(self, client: _Owner, *, transaction: bool = False) -> None:
        self._client = client
        self._once = False  # a queued command must not run twice
        self._p = client.prefix.prefix
        dttl = client.default_ttl
        self._default_px = None if dttl is None else ttl_to_ms(dttl)
        self._transaction = transaction
        self._pipe: Pipeline = client.redis.pipeline(transaction=transaction)

    @property
    def transaction(self) -> bool:
        """Whether the batch runs in MULTI/EXEC."""
        return self._transaction

    def __len__(self) -> int:
        return len(self._pipe.command_stack)

    def _px(self, ttl: TTL) -> int | None:
        if ttl is DEFAULT:
            return self._default_px
        if ttl is None:
            return None
        return ttl_to_ms(ttl)

    def get(self, key: str) -> CachePipeline:
        """Queue GET."""
        self._pipe.get(self._p + key)
        return self

    def set(
        self, key: str, value: EncodableT, *, ttl: TTL = DEFAULT, nx: bool = False, xx: bool = False
    ) -> CachePipeline:
        """Queue SET (default TTL when ``ttl`` is omitted)."""
        px = self._default_px if ttl is DEFAULT else self._px(ttl)
        self._pipe.execute_command(*set_command(self._p + key, value, px, nx, xx))
        self._once = self._once or nx
        return self

    def set_value(self, key: str, value: Any, *, ttl: TTL = DEFAULT) -> CachePipeline:
        """Queue SET of the serialized ``value``."""
        return self.set(key, self._client.serializer.dumps(value), ttl=ttl)

    def delete(self, *keys: str) -> CachePipeline:
        """Queue DEL."""
        p = self._p
        self._pipe.delete(*[p + k for k in keys])
        return self

    def exists(self, *keys: str) -> CachePipeline:
        """Queue EXISTS."""
        p = self._p
        self._pipe.exists(*[p + k for k in keys])
        return self

    def mget(self, keys: Iterable[str]) -> CachePipeline:
        """Queue MGET."""
        p = self._p
        self._pipe.mget([p + k for k in keys])
        return self

    def mset(self, mapping: Mapping[str, EncodableT]) -> CachePipeline:
        """Queue MSET (no TTL; queue ``set`` calls for expiring keys)."""
        p = self._p
        self._pipe.mset({p + k: v for k, v in mapping.items()})
        return self

    def incr(self, key: str, amount: int = 1) -> CachePipeline:
        """Queue INCRBY (the batch is then not replayed once sent)."""
        self._pipe.incrby(self._p + key, amount)
        self._once = True
        return self

    def decr(self, key: str, amount: int = 1) -> CachePipeline:
        """Queue DECRBY (the batch is then not replayed once sent)."""
        self._pipe.decrby(self._p + key, amount)
        self._once = True
        return self

    def expire(self, key: str, ttl: float | timedelta) -> CachePipeline:
        """Queue PEXPIRE."""
        self._pipe.pexpire(self._p + key, ttl_to_ms(ttl))
        return self

    def persist(self, key: str) -> CachePipeline:
        """Queue PERSIST."""
        self._pipe.persist(self._p + key)
        return self

    def pttl(self, key: str) -> CachePipeline:
        """Queue PTTL (reply in milliseconds; -2 missing, -1 no expiry)."""
        self._pipe.pttl(self._p + key)
        return self

    async def execute(self) -> list[Any]:
        """Send the queued commands; returns their replies in order and empties the queue.

        Raises:
            CacheUnavailableError: the server stayed unreachable for the whole window.
            CacheError: a command failed (e.g. WRONGTYPE) or the transaction aborted.
        """
        stack = self._pipe.command_stack
        if not stack:
            return []
        link = self._client.link
        replay: Replay = "unsent" if self._once else "always"
        self._once = False
        if link.down:
            commands = list(stack)
            await self._pipe.reset()  # type: ignore[no-untyped-call]
            guarded: list[Any] = await link.guarded(self._replay, (commands,), {}, replay=replay)
            return guarded
        try:
            return await self._pipe.execute()
        except _CONN as exc:
            commands = list(stack)
            # redis-py empties the queue only when the error happens after it got a
            # connection; a refused connect leaves it full, and the next execute() would
            # send this batch again.
            await self._pipe.reset()  # type: ignore[no-untyped-call]
            replies: list[Any] = await link.recover(exc, self._replay, (commands,), {}, replay=replay)
            return replies
        except _RedisError as exc:
            raise link.error(exc) from exc

    async def _replay(self, stack: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> list[Any]:
        pipe = self._client.redis.pipeline(transaction=self._transaction)
        try:
            for args, options in stack:
                pipe.pipeline_execute_command(*args, **options)  # type: ignore[no-untyped-call]
            return await pipe.execute()
        finally:
            await pipe.reset()  # type: ignore[no-untyped-call]

    async def reset(self) -> None:
        """Drop the queued commands and return the connection to the pool."""
        self._once = False
        await self._pipe.reset()  # type: ignore[no-untyped-call]

    async def __aenter__(self) -> CachePipeline:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.reset()
