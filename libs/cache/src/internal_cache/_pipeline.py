"""Prefixed pipelines: the client's typed commands, queued and sent in one round trip.

On one server the commands are queued straight into a redis-py ``Pipeline``. On a Redis Cluster
they are kept here and handed to redis-py's ``ClusterPipeline`` (one batch per node) by
:meth:`CachePipeline.execute`; a multi-key command must keep its keys in one hash slot, and a
transaction all of its keys, which is checked as each command is queued
(:class:`CacheCrossSlotError`, nothing sent).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Protocol

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException
from redis.typing import EncodableT

from internal_cache._cluster import mark_stale, recycled, require_one_slot, slot_of, translate
from internal_cache._connection import COMMAND_ERRORS, CONNECTION_ERRORS, AnyRedis, RedisLink, Replay
from internal_cache._keys import KeyPrefix
from internal_cache._serialization import Serializer
from internal_cache._types import DEFAULT, TTL, set_command, ttl_to_ms

if TYPE_CHECKING:
    from redis.asyncio.client import Pipeline

__all__ = ["CachePipeline"]

_CONN: Final = CONNECTION_ERRORS
_RedisError: Final = COMMAND_ERRORS


class _Owner(Protocol):
    """What a pipeline needs from its :class:`~internal_cache.CacheClient`."""

    @property
    def redis(self) -> AnyRedis: ...

    @property
    def cluster(self) -> bool: ...

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

    On a Redis Cluster each command goes to the node of its key (redis-py's ``ClusterPipeline``);
    ``delete``/``exists``/``mget``/``mset`` must name keys of one hash slot, and with
    ``transaction=True`` every key of the batch must be in one slot (use hash tags), else
    :class:`CacheCrossSlotError` is raised when the command is queued. A cluster batch holding
    ``incr``/``decr``/``set(nx=True)`` is never replayed once it may have reached a node.

    Example::

        async with client.pipeline(transaction=True) as pipe:
            pipe.set("a", 1).incr("counter")
            ok, counter = await pipe.execute()
    """

    __slots__ = ("_client", "_default_px", "_keys", "_once", "_p", "_pipe", "_slot", "_stack", "_transaction")

    def __init__(self, client: _Owner, *, transaction: bool = False) -> None:
        self._client = client
        self._once = False  # a queued command must not run twice
        self._p = client.prefix.prefix
        dttl = client.default_ttl
        self._default_px = None if dttl is None else ttl_to_ms(dttl)
        self._transaction = transaction
        redis = client.redis
        # Cluster: commands wait here (args only); the ClusterPipeline is built by execute().
        self._stack: list[tuple[Any, ...]] | None = None
        self._slot: int | None = None  # the one slot of a cluster transaction so far
        self._keys: list[tuple[str, str]] = []  # (full, shown) keys of a cluster transaction
        if isinstance(redis, RedisCluster):
            self._stack = []
            self._pipe: Pipeline | None = None
        else:
            self._pipe = redis.pipeline(transaction=transaction)

    @property
    def transaction(self) -> bool:
        """Whether the batch runs in MULTI/EXEC."""
        return self._transaction

    def __len__(self) -> int:
        if self._stack is not None:
            return len(self._stack)
        assert self._pipe is not None
        return len(self._pipe.command_stack)

    def _q(self, args: tuple[Any, ...], keys: Sequence[str] = (), what: str = "") -> None:
        """Queue one command; on a cluster check the slots of ``keys`` (as the caller wrote them) first."""
        stack = self._stack
        if stack is None:
            self._pipe.execute_command(*args)  # type: ignore[union-attr]
            return
        p = self._p
        full = [p + k for k in keys]
        if len(full) > 1 and what:
            require_one_slot(f"pipeline {what}", full, list(keys))
        if self._transaction and full:
            slot = slot_of(full[0])
            if self._slot is None:
                self._slot = slot
            self._keys.extend(zip(full, keys, strict=True))
            if slot != self._slot or len(full) > 1:
                require_one_slot(
                    "pipeline(transaction=True)", [f for f, _ in self._keys], [k for _, k in self._keys]
                )
        stack.append(args)

    def _px(self, ttl: TTL) -> int | None:
        if ttl is DEFAULT:
            return self._default_px
        if ttl is None:
            return None
        return ttl_to_ms(ttl)

    def get(self, key: str) -> CachePipeline:
        """Queue GET."""
        self._q(("GET", self._p + key), (key,))
        return self

    def set(
        self, key: str, value: EncodableT, *, ttl: TTL = DEFAULT, nx: bool = False, xx: bool = False
    ) -> CachePipeline:
        """Queue SET (default TTL when ``ttl`` is omitted)."""
        px = self._default_px if ttl is DEFAULT else self._px(ttl)
        args = set_command(self._p + key, value, px, nx, xx)
        if self._stack is None:
            self._pipe.execute_command(*args)  # type: ignore[union-attr]
        else:
            self._q(args, (key,))
        self._once = self._once or nx
        return self

    def set_value(self, key: str, value: Any, *, ttl: TTL = DEFAULT) -> CachePipeline:
        """Queue SET of the serialized ``value``."""
        return self.set(key, self._client.serializer.dumps(value), ttl=ttl)

    def delete(self, *keys: str) -> CachePipeline:
        """Queue DEL."""
        p = self._p
        self._q(("DEL", *[p + k for k in keys]), keys, "delete")
        return self

    def exists(self, *keys: str) -> CachePipeline:
        """Queue EXISTS."""
        p = self._p
        self._q(("EXISTS", *[p + k for k in keys]), keys, "exists")
        return self

    def mget(self, keys: Iterable[str]) -> CachePipeline:
        """Queue MGET."""
        p = self._p
        names = list(keys)
        self._q(("MGET", *[p + k for k in names]), names, "mget")
        return self

    def mset(self, mapping: Mapping[str, EncodableT]) -> CachePipeline:
        """Queue MSET (no TTL; queue ``set`` calls for expiring keys)."""
        p = self._p
        args: list[Any] = ["MSET"]
        for k, v in mapping.items():
            args += (p + k, v)
        self._q(tuple(args), list(mapping), "mset")
        return self

    def incr(self, key: str, amount: int = 1) -> CachePipeline:
        """Queue INCRBY (the batch is then not replayed once sent)."""
        self._q(("INCRBY", self._p + key, amount), (key,))
        self._once = True
        return self

    def decr(self, key: str, amount: int = 1) -> CachePipeline:
        """Queue DECRBY (the batch is then not replayed once sent)."""
        self._q(("DECRBY", self._p + key, amount), (key,))
        self._once = True
        return self

    def expire(self, key: str, ttl: float | timedelta) -> CachePipeline:
        """Queue PEXPIRE."""
        self._q(("PEXPIRE", self._p + key, ttl_to_ms(ttl)), (key,))
        return self

    def persist(self, key: str) -> CachePipeline:
        """Queue PERSIST."""
        self._q(("PERSIST", self._p + key), (key,))
        return self

    def pttl(self, key: str) -> CachePipeline:
        """Queue PTTL (reply in milliseconds; -2 missing, -1 no expiry)."""
        self._q(("PTTL", self._p + key), (key,))
        return self

    async def execute(self) -> list[Any]:
        """Send the queued commands; returns their replies in order and empties the queue.

        Raises:
            CacheUnavailableError: the server stayed unreachable for the whole window.
            CacheError: a command failed (e.g. WRONGTYPE) or the transaction aborted.
        """
        if self._stack is not None:
            return await self._execute_cluster()
        assert self._pipe is not None
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

    async def _execute_cluster(self) -> list[Any]:
        stack = self._stack
        if not stack:
            return []
        self._stack, self._slot, self._keys = [], None, []
        # One slot (a transaction) is one node: nothing ran if it was not sent. A batch spread over
        # several nodes may have run on some when another failed: never replay a once-only one.
        replay: Replay = "always" if not self._once else "unsent" if self._transaction else "never"
        self._once = False
        result: list[Any] = await self._client.link.run(self._run_cluster, stack, replay=replay)
        return result

    async def _run_cluster(self, stack: list[tuple[Any, ...]]) -> list[Any]:
        redis = self._client.redis
        assert isinstance(redis, RedisCluster)
        pipe = redis.pipeline(transaction=self._transaction)
        for args in stack:
            pipe.execute_command(*args)
        try:
            return await pipe.execute()
        except _CONN:
            mark_stale(redis)  # a node stopped answering: reload the slot map before the retry
            raise
        except RedisClusterException as exc:
            raise translate(exc, stack[0] if len(stack) == 1 else ()) from exc
        except (AttributeError, TypeError) as exc:
            error = recycled(exc)
            if error is None:
                raise
            mark_stale(redis)
            raise error from exc
        finally:
            await pipe.reset()  # type: ignore[no-untyped-call]

    async def _replay(self, stack: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> list[Any]:
        redis = self._client.redis
        assert not isinstance(redis, RedisCluster)
        pipe = redis.pipeline(transaction=self._transaction)
        try:
            for args, options in stack:
                pipe.pipeline_execute_command(*args, **options)  # type: ignore[no-untyped-call]
            return await pipe.execute()
        finally:
            await pipe.reset()  # type: ignore[no-untyped-call]

    async def reset(self) -> None:
        """Drop the queued commands and return the connection to the pool."""
        self._once = False
        if self._stack is not None:
            self._stack, self._slot, self._keys = [], None, []
            return
        assert self._pipe is not None
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
