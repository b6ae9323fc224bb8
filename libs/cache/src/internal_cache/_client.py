"""The async Redis client: prefixed typed commands, TTLs, serialization.

Hot path: every typed command is one string concatenation (the key prefix), one flag
test (is the circuit open?) and one awaited redis-py call inside a ``try``. Recovery
(reconnection window, breaker, pool waits) lives in :mod:`internal_cache._connection`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any, Final, TypeVar

import redis.asyncio as aioredis
from pydantic import SecretStr
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.typing import EncodableT

from internal_base.errors import ConfigurationError
from internal_base.health import HealthRegistry, default_registry
from internal_base.resilience import Backoff, ResiliencePolicy
from internal_cache._cluster import (
    build_cluster,
    cluster_state,
    has_hash_tag,
    mark_stale,
    require_one_slot,
    wait_idle,
)
from internal_cache._config import CacheSettings
from internal_cache._connection import (
    COMMAND_ERRORS,
    CONNECTION_ERRORS,
    AnyRedis,
    LinkStats,
    RedisLink,
    Replay,
)
from internal_cache._errors import CacheError, CacheUnavailableError
from internal_cache._keys import FENCE_MARK, KeyPrefix
from internal_cache._lock import Lock
from internal_cache._pipeline import CachePipeline
from internal_cache._pool import IdleClosingPool
from internal_cache._sentinel import build_sentinel, close_sentinels
from internal_cache._serialization import JsonSerializer, Serializer
from internal_cache._single_flight import get_or_set
from internal_cache._telemetry import METRICS as _METRICS
from internal_cache._telemetry import count_lookup
from internal_cache._topology import Mode, parse_topology
from internal_cache._types import DEFAULT, TTL, set_command, ttl_to_ms

__all__ = ["CacheClient", "describe_redis"]

T = TypeVar("T")

_CONN: Final = CONNECTION_ERRORS
_RedisError: Final = COMMAND_ERRORS
_FENCE: Final = FENCE_MARK.encode()


def _single_command(fn: Callable[..., Awaitable[Any]]) -> bool:
    """Whether ``fn`` is one redis-py command (a bound method of a client or pipeline)."""
    return isinstance(getattr(fn, "__self__", None), aioredis.Redis | RedisCluster)


def _connection_kwargs(client: AnyRedis) -> dict[str, Any]:
    if isinstance(client, RedisCluster):
        return client.get_connection_kwargs()
    return client.connection_pool.connection_kwargs


def _own_client(settings: CacheSettings, timeout: float | None) -> AnyRedis:
    """A redis-py client built from ``settings``: cluster, sentinel-managed, or on an IdleClosingPool."""
    mode = settings.mode
    if mode != "standalone":
        topology = parse_topology(settings.url.get_secret_value())
        if mode == "cluster":
            return build_cluster(
                topology,
                timeout=timeout,
                connect_timeout=settings.socket_connect_timeout,
                max_connections=settings.max_connections,
                health_check_interval=settings.health_check_interval,
            )
        return build_sentinel(
            topology,
            timeout=timeout,
            connect_timeout=settings.socket_connect_timeout,
            max_connections=settings.max_connections,
            health_check_interval=settings.health_check_interval,
            idle_timeout=settings.pool_idle_timeout,
        )
    # A plain (non-blocking) pool: BlockingConnectionPool costs ~15% throughput per
    # command. Exhaustion raises MaxConnectionsError, which the slow path turns into a
    # bounded wait of pool_timeout seconds (see RedisLink._wait_for_pool).
    pool = IdleClosingPool.from_url(
        settings.url.get_secret_value(),
        idle_timeout=settings.pool_idle_timeout,
        max_connections=settings.max_connections,
        socket_timeout=timeout,
        socket_connect_timeout=settings.socket_connect_timeout,
        health_check_interval=settings.health_check_interval,
        # Reconnection is ours (fast path + the policy's retry); redis-py must not retry too.
        retry=Retry(NoBackoff(), 0),
    )
    return aioredis.Redis.from_pool(pool)


def mark_stale_if_cluster(client: AnyRedis) -> None:
    """After a failed check, make a cluster client reload its slot map before the next command."""
    if isinstance(client, RedisCluster):
        mark_stale(client)


def describe_redis(client: AnyRedis) -> str:
    """A password-free description of where ``client`` connects."""
    if isinstance(client, RedisCluster):
        nodes = ",".join(f"{node.host}:{node.port}" for node in client.nodes_manager.startup_nodes.values())
        return f"redis+cluster://{nodes}"
    pool = client.connection_pool
    if isinstance(pool, SentinelConnectionPool):
        sentinels = ",".join(
            f"{s.connection_pool.connection_kwargs.get('host')}:{s.connection_pool.connection_kwargs.get('port')}"
            for s in pool.sentinel_manager.sentinels
        )
        return f"redis+sentinel://{sentinels}/{pool.service_name}"
    kwargs = pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    return f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


class CacheClient:
    """Async Redis client with a key prefix, TTL defaults, serialization and reconnection.

    ``CacheClient()`` reads ``CacheSettings.load()`` (env ``COMMONS_CACHE_*``, the ``cache:`` YAML
    section of ``COMMONS_CONFIG_FILE``, ``.env``, defaults) and builds its own bounded connection
    pool, closed by :meth:`aclose`. ``CacheClient(settings, redis=...)`` wraps a redis-py client
    the caller owns instead (e.g. ``fakeredis.FakeAsyncRedis()`` in unit tests): the settings'
    prefix, TTL, resilience and health options apply, its pool is left alone and not closed.
    The redis-py client is reachable as :attr:`redis` (keys sent through it are *not* prefixed).

    Example::

        async with CacheClient() as cache:
            await cache.set_value("user:1", {"name": "Ada"}, ttl=60)

    Args:
        settings: The client's settings; ``CacheSettings.load()`` when ``None``.
        redis: A redis-py asyncio client to use instead of building a pool from ``settings.url``.
        health_registry: Where the PING readiness check goes (default: the process-wide
            ``internal_base.health.default_registry()``); nothing is registered when
            ``settings.health_check`` is off.
        serializer: Used by :meth:`get_value`, :meth:`set_value`, :meth:`get_or_set` (JSON).
        policy: Resilience policy to use instead of ``settings.resilience.to_policy(...)``
            (e.g. a breaker shared between clients); its ``retry`` is the reconnection
            window and its ``timeout`` the socket timeout of a pool the client builds.

    Raises:
        ConfigurationError: The settings cannot be loaded, or ``redis`` decodes responses.
    """

    __slots__ = (
        "_closed",
        "_cluster",
        "_default_px",
        "_default_ttl",
        "_health_name",
        "_health_registry",
        "_inflight",
        "_link",
        "_owns_link",
        "_owns_redis",
        "_p",
        "_prefix",
        "_r",
        "_serializer",
    )

    def __init__(
        self,
        settings: CacheSettings | None = None,
        *,
        redis: AnyRedis | None = None,
        health_registry: HealthRegistry | None = None,
        serializer: Serializer | None = None,
        policy: ResiliencePolicy | None = None,
    ) -> None:
        if settings is None:
            settings = CacheSettings.load()
        if redis is not None and _connection_kwargs(redis).get("decode_responses"):
            raise ConfigurationError(
                "CacheClient needs a redis client with decode_responses=False (values are bytes)"
            )
        url = settings.redacted_url if redis is None else describe_redis(redis)
        if policy is None:
            policy = settings.resilience.to_policy(f"redis {url}", retry_on=CONNECTION_ERRORS)
        self._owns_redis = redis is None
        if redis is None:
            redis = _own_client(settings, policy.timeout)
        self._owns_link = True
        self._setup(
            redis,
            RedisLink(redis, url=url, policy=policy, pool_timeout=settings.pool_timeout),
            key_prefix=settings.key_prefix,
            default_ttl=settings.default_ttl,
            serializer=serializer,
            health_name=settings.health_check_name,
        )
        if settings.health_check:
            self.register_health_check(health_registry)

    def _setup(
        self,
        redis: AnyRedis,
        link: RedisLink,
        *,
        key_prefix: str,
        default_ttl: float | None,
        serializer: Serializer | None,
        health_name: str,
    ) -> None:
        self._r = redis
        self._cluster = isinstance(redis, RedisCluster)
        self._link = link
        self._prefix = KeyPrefix(key_prefix)
        self._p = key_prefix
        self._default_ttl = default_ttl
        self._default_px = None if default_ttl is None else ttl_to_ms(default_ttl)
        self._serializer: Serializer = serializer if serializer is not None else JsonSerializer()
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._closed = False
        self._health_registry: HealthRegistry | None = None
        self._health_name = health_name

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        health_registry: HealthRegistry | None = None,
        serializer: Serializer | None = None,
        **settings: Any,
    ) -> CacheClient:
        """``CacheClient(CacheSettings.load(url=url, **settings))``: the other settings still load.

        Args:
            url: The Redis URL (wins over ``COMMONS_CACHE_URL`` and YAML).
            health_registry: As for the constructor.
            serializer: As for the constructor.
            **settings: Other ``CacheSettings`` fields (they win over env and YAML too).

        Raises:
            ConfigurationError: An unknown or invalid setting (named, never its value).
        """
        loaded = CacheSettings.load(url=SecretStr(url), **settings)
        return cls(loaded, health_registry=health_registry, serializer=serializer)

    def with_prefix(self, suffix: str, *, same_slot: bool = False) -> CacheClient:
        """A client sharing this connection pool, namespaced under ``prefix + suffix``.

        The view does not own the pool (closing it closes nothing) and registers no
        health check.

        Args:
            suffix: Appended to this client's prefix.
            same_slot: Make ``suffix`` a hash tag (``prefix + "{" + suffix + "}"``) so that every
                key of the view lives in one Redis Cluster hash slot: multi-key commands,
                transactions and pipelines on them work on a cluster. Harmless elsewhere. If this
                client's prefix already has a tag, it wins (its keys already share a slot).

        Raises:
            ValueError: ``same_slot`` with an empty suffix or one containing ``{`` or ``}``, or
                under a prefix whose first ``{`` is closed at once (``{}``: Redis then hashes whole
                keys, so no suffix can pin the slot).
        """
        if same_slot:
            if not suffix or "{" in suffix or "}" in suffix:
                raise ValueError(f"a same_slot suffix must be non-empty and brace-free, got {suffix!r}")
            suffix = "{" + suffix + "}"
            if not has_hash_tag(self._p + suffix):
                raise ValueError(
                    f"with_prefix({suffix[1:-1]!r}, same_slot=True) cannot put keys in one slot under "
                    f"the prefix {self._p!r}: its first '{{' is closed at once ('{{}}'), so Redis "
                    "ignores every later hash tag; use a prefix without an empty '{}'"
                )
        view = CacheClient.__new__(CacheClient)
        view._owns_redis = False
        view._owns_link = False
        view._setup(
            self._r,
            self._link,
            key_prefix=self._p + suffix,
            default_ttl=self._default_ttl,
            serializer=self._serializer,
            health_name=self._health_name,
        )
        return view

    # ------------------------------------------------------------------ properties

    @property
    def redis(self) -> AnyRedis:
        """The underlying redis-py client (keys sent through it are NOT prefixed).

        A ``redis.asyncio.RedisCluster`` on a cluster, a ``redis.asyncio.Redis`` otherwise (for
        Sentinel: one whose pool asks the sentinels for the master).
        """
        return self._r

    @property
    def cluster(self) -> bool:
        """Whether the client talks to a Redis Cluster (keys are spread over hash slots)."""
        return self._cluster

    @property
    def mode(self) -> Mode:
        """``"cluster"``, ``"sentinel"`` or ``"standalone"``: the deployment the client talks to."""
        if isinstance(self._r, RedisCluster):
            return "cluster"
        if isinstance(self._r.connection_pool, SentinelConnectionPool):
            return "sentinel"
        return "standalone"

    @property
    def prefix(self) -> KeyPrefix:
        """The key namespace of this client."""
        return self._prefix

    @property
    def url(self) -> str:
        """The server URL with the password masked."""
        return self._link.url

    @property
    def link(self) -> RedisLink:
        """The I/O boundary: reconnection window, circuit breaker, background tasks."""
        return self._link

    @property
    def stats(self) -> LinkStats:
        """Outage counters (shared with every :meth:`with_prefix` view)."""
        return self._link.stats

    @property
    def default_ttl(self) -> float | None:
        """Seconds applied when ``ttl`` is omitted (``None``: keys do not expire)."""
        return self._default_ttl

    @property
    def serializer(self) -> Serializer:
        """The value serializer."""
        return self._serializer

    @property
    def policy(self) -> ResiliencePolicy:
        """The resilience policy (reconnection window, breaker, per-attempt timeout)."""
        return self._link.policy

    def key(self, key: str) -> str:
        """The full server-side key (for use with :attr:`redis`)."""
        return self._p + key

    def __repr__(self) -> str:
        return f"CacheClient(url={self._link.url!r}, prefix={self._p!r})"

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> CacheClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self, *, drain_timeout: float = 5.0) -> None:
        """Finish background lock releases and commands in flight, close the pool.

        Waits up to ``drain_timeout`` seconds for background lock releases, then as long
        again for commands still running on a pool the client built (they complete
        instead of losing their connection), unregisters the health check and closes the
        pool. Idempotent. The pool is closed only when this client owns it. Afterwards every
        command of this client (and of its :meth:`with_prefix` views) raises
        :class:`CacheError` instead of silently reopening connections.
        """
        if self._closed:
            return
        self._closed = True
        self.unregister_health_check()
        await self._link.drain(drain_timeout)
        pool = getattr(self._r, "connection_pool", None)
        if self._owns_redis and isinstance(pool, IdleClosingPool):
            await pool.wait_idle(drain_timeout)
        elif self._owns_redis and isinstance(self._r, RedisCluster):
            await wait_idle(self._r, drain_timeout)
        if self._owns_link:
            self._link.close()
        if self._owns_redis:
            if isinstance(self._r, aioredis.Redis):
                await close_sentinels(self._r)
            await self._r.aclose()

    # ------------------------------------------------------------------ health

    def register_health_check(
        self,
        registry: HealthRegistry | None = None,
        *,
        name: str | None = None,
        critical: bool = True,
        timeout: float = 2.0,
    ) -> None:
        """Register a PING readiness check (default registry, name ``health_check_name``)."""
        self.unregister_health_check()
        self._health_registry = registry if registry is not None else default_registry()
        if name is not None:
            self._health_name = name
        self._health_registry.register(
            self._health_name, self.health_check, critical=critical, timeout=timeout
        )

    def unregister_health_check(self) -> None:
        """Remove the check registered by :meth:`register_health_check`, if any."""
        registry, self._health_registry = self._health_registry, None
        if registry is not None:
            registry.unregister(self._health_name, self.health_check)

    async def health_check(self) -> bool:
        """PING the server once (no retries); raises :class:`CacheUnavailableError` if down.

        On a Redis Cluster every primary of the slot map is PINGed and the cluster must report
        ``cluster_state:ok``: a slot range without a primary makes the check fail.
        """
        try:
            if isinstance(self._r, RedisCluster):
                state = await cluster_state(self._r)
                if state != "ok":
                    raise self._link.unavailable(
                        RedisError(f"cluster_state:{state}"),
                        "cannot serve every hash slot (a slot range has no primary)",
                    )
                return True
            return bool(await self._r.ping())
        except _CONN as exc:
            if isinstance(exc, CacheError):
                raise
            mark_stale_if_cluster(self._r)
            raise self._link.unavailable(exc, "did not answer PING") from exc
        except _RedisError as exc:
            raise self._link.error(exc) from exc

    # ------------------------------------------------------------------ errors / recovery

    def _unavailable(self, exc: BaseException, what: str) -> CacheUnavailableError:
        return self._link.unavailable(exc, what)

    def _error(self, exc: RedisError) -> CacheError:
        return self._link.error(exc)

    async def call(
        self, fn: Callable[..., Awaitable[T]], /, *args: Any, idempotent: bool = False, **kwargs: Any
    ) -> T:
        """Run ``fn(*args, **kwargs)`` (e.g. a raw redis-py method) with reconnection.

        Keys passed this way are not prefixed; use :meth:`key`.

        Args:
            fn: A redis-py method, or any coroutine function using :attr:`redis`.
            *args: Its positional arguments.
            idempotent: ``fn`` may safely run twice: retry it after any connection error
                within the reconnection window. By default a single redis-py command is
                retried only when it failed before being sent, and any other callable is
                not retried at all (it may have run partly).
            **kwargs: Its keyword arguments.

        Raises:
            CacheUnavailableError: unreachable within the window, the circuit is open, or
                a non-idempotent call lost its connection after it may have run.
        """
        replay: Replay = "always" if idempotent else "unsent" if _single_command(fn) else "never"
        return await self._link.run(fn, *args, replay=replay, **kwargs)

    def _spawn(self, coro: Awaitable[T]) -> asyncio.Task[T]:
        """Run ``coro`` as a task the client keeps alive and drains in :meth:`aclose`."""
        return self._link.spawn(coro)

    @property
    def _pending(self) -> set[asyncio.Task[Any]]:
        return self._link.pending

    def _px(self, ttl: TTL) -> int | None:
        if ttl is DEFAULT:
            return self._default_px
        if ttl is None:
            return None
        return ttl_to_ms(ttl)

    # ------------------------------------------------------------------ strings

    async def ping(self) -> bool:
        """PING with reconnection."""
        return bool(await self._link.run(self._r.ping))

    async def get(self, key: str) -> bytes | None:
        """The raw bytes stored at ``key``, or ``None`` (counted in ``cache.hits``/``cache.misses``)."""
        k = self._p + key
        link = self._link
        value: bytes | None
        if link.down:
            value = await link.guarded(self._r.get, (k,), {})  # type: ignore[arg-type]
        else:
            try:
                value = await self._r.get(k)  # type: ignore[assignment]
            except _CONN as exc:
                value = await link.recover(exc, self._r.get, (k,), {})  # type: ignore[arg-type]
            except _RedisError as exc:
                raise link.error(exc) from exc
        if _METRICS.on:
            count_lookup(value is not None, "get")
        return value

    async def _get_uncounted(self, key: str) -> bytes | None:
        """:meth:`get` without the hit/miss count (``get_or_set`` counts its own)."""
        k = self._p + key
        return await self._link.run(self._r.get, k)  # type: ignore[arg-type]

    async def set(
        self,
        key: str,
        value: EncodableT,
        *,
        ttl: TTL = DEFAULT,
        nx: bool = False,
        xx: bool = False,
    ) -> bool:
        """SET ``key`` (with ``ttl`` seconds; default TTL when omitted).

        A ``nx`` write is retried after a connection error only when it was not sent:
        a replayed ``SET NX`` would report the caller's own earlier write as a lost race.

        Returns:
            False when ``nx``/``xx`` prevented the write, else True.
        """
        px = self._default_px if ttl is DEFAULT else self._px(ttl)
        args = set_command(self._p + key, value, px, nx, xx)
        execute = self._r.execute_command
        link = self._link
        replay: Replay = "unsent" if nx else "always"
        if link.down:
            return bool(await link.guarded(execute, args, {}, replay=replay))
        try:
            result = await execute(*args)
        except _CONN as exc:
            result = await link.recover(exc, execute, args, {}, replay=replay)
        except _RedisError as exc:
            raise link.error(exc) from exc
        return bool(result)

    async def delete(self, *keys: str) -> int:
        """Delete ``keys``; returns how many existed."""
        if not keys:
            return 0
        full = self._prefix.keys(keys)
        return int(await self._link.run(self._r.delete, *full))

    async def exists(self, *keys: str) -> int:
        """How many of ``keys`` exist (a key named twice counts twice)."""
        if not keys:
            return 0
        full = self._prefix.keys(keys)
        return int(await self._link.run(self._r.exists, *full))

    async def mget(self, keys: Iterable[str]) -> list[bytes | None]:
        """The raw values of ``keys`` in order (``None`` for missing ones).

        On a Redis Cluster the keys are read with one MGET per hash slot (redis-py's
        ``mget_nonatomic``): each slot's keys are read atomically, the whole set is not.
        """
        full = self._prefix.keys(keys)
        if not full:
            return []
        if self._cluster:
            assert isinstance(self._r, RedisCluster)
            split: list[bytes | None] = await self._link.run(self._r.mget_nonatomic, full)
            return split
        values: list[bytes | None] = await self._link.run(self._r.mget, full)  # type: ignore[arg-type]
        return values

    async def mset(self, mapping: Mapping[str, EncodableT], *, ttl: TTL = DEFAULT) -> None:
        """Set every key of ``mapping`` atomically (one MULTI/EXEC when a TTL applies).

        Raises:
            CacheCrossSlotError: on a Redis Cluster, the keys are in several hash slots (an atomic
                write cannot span them); nothing was written.
        """
        if not mapping:
            return
        if self._cluster:
            require_one_slot("mset", self._prefix.keys(mapping), list(mapping))
        px = self._px(ttl)
        if px is None:
            p = self._p
            await self._link.run(self._r.mset, {p + k: v for k, v in mapping.items()})
            return
        async with self.pipeline(transaction=True) as pipe:
            for k, v in mapping.items():
                pipe.set(k, v, ttl=ttl)
            await pipe.execute()

    async def incr(self, key: str, amount: int = 1) -> int:
        """INCRBY; the key is created at 0. At most once.

        Retried after a connection error only when the command was certainly not sent.

        Raises:
            CacheUnavailableError: the connection broke while the command was in flight
                (it may have been applied), or the server stayed unreachable.
        """
        return int(await self._link.run(self._r.incrby, self._p + key, amount, replay="unsent"))

    async def decr(self, key: str, amount: int = 1) -> int:
        """DECRBY; the key is created at 0. At most once, like :meth:`incr`."""
        return int(await self._link.run(self._r.decrby, self._p + key, amount, replay="unsent"))

    # ------------------------------------------------------------------ TTLs

    async def expire(self, key: str, ttl: float | timedelta) -> bool:
        """Set ``key`` to expire in ``ttl`` seconds; False when the key does not exist."""
        return bool(await self._link.run(self._r.pexpire, self._p + key, ttl_to_ms(ttl)))

    async def refresh(self, key: str, ttl: TTL = DEFAULT) -> bool:
        """Reset ``key``'s TTL (default TTL when omitted); False when the key is missing.

        Raises:
            ValueError: no ``ttl`` given and the client has no default TTL.
        """
        px = self._px(ttl)
        if px is None:
            raise ValueError("refresh() needs a ttl: the client has no default_ttl")
        return bool(await self._link.run(self._r.pexpire, self._p + key, px))

    async def persist(self, key: str) -> bool:
        """Remove ``key``'s TTL; False when it is missing or had none."""
        return bool(await self._link.run(self._r.persist, self._p + key))

    async def ttl(self, key: str) -> float | None:
        """Seconds until ``key`` expires: ``None`` if missing, ``math.inf`` if it never does."""
        ms = int(await self._link.run(self._r.pttl, self._p + key))
        if ms == -2:
            return None
        if ms == -1:
            return math.inf
        return ms / 1000.0

    # ------------------------------------------------------------------ values

    async def get_value(self, key: str, default: Any = None) -> Any:
        """The deserialized value at ``key``, or ``default`` when missing."""
        data = await self.get(key)
        if data is None:
            return default
        return self._serializer.loads(data)

    async def set_value(self, key: str, value: Any, *, ttl: TTL = DEFAULT, nx: bool = False) -> bool:
        """Serialize and SET ``value``; False when ``nx`` prevented the write."""
        return await self.set(key, self._serializer.dumps(value), ttl=ttl, nx=nx)

    async def get_or_set(
        self,
        key: str,
        factory: Callable[[], Awaitable[Any]],
        *,
        ttl: TTL = DEFAULT,
        lock_ttl: float = 10.0,
        lock_timeout: float = 30.0,
    ) -> Any:
        """The cached value at ``key``, computing it with ``factory`` once when missing.

        Concurrent callers in this process share one computation; callers in other
        processes wait on a distributed lock (``<key>:get_or_set.lock``) and then read
        the value the winner stored. If the lock cannot be had within ``lock_timeout``
        the value is computed anyway (availability over single computation).
        """
        return await get_or_set(
            self, self._inflight, key, factory, ttl=ttl, lock_ttl=lock_ttl, lock_timeout=lock_timeout
        )

    # ------------------------------------------------------------------ keyspace

    async def _scan_raw(self, match: str, count: int | None) -> AsyncIterator[bytes]:
        """Full server-side keys of this namespace matching ``match``, as bytes.

        Lock fencing counters (``FENCE_MARK`` keys) are skipped: they must outlive
        :meth:`clear` so fencing tokens never go backwards.
        """
        if self._link.closed:
            await self._link.guarded(self._r.ping, (), {})  # raises: the client is closed
        try:
            async for raw in self._r.scan_iter(match=self._prefix.pattern(match), count=count):
                if _FENCE not in raw:
                    yield raw
        except _CONN as exc:
            raise self._link.unavailable(exc, "dropped the connection during SCAN") from exc
        except _RedisError as exc:
            raise self._link.error(exc) from exc

    async def scan_keys(self, match: str = "*", *, count: int | None = None) -> AsyncIterator[str]:
        """Iterate over this namespace's keys matching ``match``, returned unprefixed.

        Raises:
            CacheError: a key is not valid UTF-8 (written by another client); such keys
                can be read through :attr:`redis` and are still deleted by :meth:`clear`.
        """
        strip = self._prefix.unprefix
        async for raw in self._scan_raw(match, count):
            try:
                yield strip(raw)
            except UnicodeDecodeError as exc:
                raise CacheError(
                    f"key {raw!r} in namespace {self._p!r} is not valid UTF-8; "
                    "use client.redis.scan_iter() to read binary keys"
                ) from exc

    async def clear(self, match: str = "*", *, batch: int = 500) -> int:
        """Delete this namespace's keys matching ``match``; returns how many were deleted.

        Binary (non-UTF-8) keys are deleted too. Lock fencing counters are kept, so a
        lock acquired after ``clear()`` still gets a larger fencing token. A connection lost
        during the scan (a node failing over) restarts it within the reconnection window.

        Raises:
            CacheError: the client has no key prefix (refuses to wipe the whole database).
        """
        if not self._p:
            raise CacheError("clear() needs a key prefix; refusing to delete unprefixed keys")
        deleted = [0]
        # A pass is safe to run again (it deletes what is left): a connection lost mid-SCAN (a node
        # failing over) restarts it within the reconnection window instead of failing the call.
        await self._link.run(self._clear_pass, match, batch, deleted, replay="always")
        return deleted[0]

    async def _clear_pass(self, match: str, batch: int, deleted: list[int]) -> None:
        """One SCAN over the namespace deleting in chunks; ``deleted[0]`` counts across passes."""
        chunk: list[bytes] = []
        async for key in self._r.scan_iter(match=self._prefix.pattern(match), count=batch):
            if _FENCE in key:
                continue
            chunk.append(key)
            if len(chunk) >= batch:
                deleted[0] += int(await self._r.delete(*chunk))
                chunk.clear()
        if chunk:
            deleted[0] += int(await self._r.delete(*chunk))

    # ------------------------------------------------------------------ factories

    def pipeline(self, *, transaction: bool = False) -> CachePipeline:
        """A prefixed pipeline (MULTI/EXEC when ``transaction``); see :class:`CachePipeline`."""
        return CachePipeline(self, transaction=transaction)

    def lock(
        self,
        name: str,
        *,
        ttl: float = 10.0,
        timeout: float | None = 10.0,
        retry_interval: float = 0.05,
        backoff: Backoff | None = None,
        auto_renew: bool = False,
        renew_interval: float | None = None,
        fencing: bool = True,
        on_lost: Callable[[Lock], object] | None = None,
    ) -> Lock:
        """A distributed lock on key ``prefix + name``; see :class:`Lock`."""
        return Lock(
            self,
            name,
            ttl=ttl,
            timeout=timeout,
            retry_interval=retry_interval,
            backoff=backoff,
            auto_renew=auto_renew,
            renew_interval=renew_interval,
            fencing=fencing,
            on_lost=on_lost,
        )
