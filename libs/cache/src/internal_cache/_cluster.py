"""Redis Cluster support: hash slots, same-slot checks, lock fence keys, redis-py's ``RedisCluster``.

The client talks to a cluster through redis-py's own :class:`redis.asyncio.cluster.RedisCluster`
(slot map, MOVED/ASK redirections, per-node pools). This module adds what a cache needs on top:

* :func:`require_one_slot` refuses, before anything is sent, an atomic multi-key command whose keys
  hash to several slots, naming the keys of each slot (:class:`CacheCrossSlotError`);
* :func:`fence_key` puts a lock's fencing counter in the lock key's slot (a hash tag), so the
  acquire script may touch both;
* :class:`ClusterRedis` turns redis-py's cluster exceptions (plain ``Exception`` subclasses) into
  what the rest of the library handles: a topology in flux (slot not covered, no node reachable)
  becomes a connection error -- retried within the reconnection window while redis-py refreshes
  its slot map -- and a cross-slot command a :class:`CacheError` naming its keys. redis-py's own
  retries are turned off: reconnection is the client's (one window, one breaker, at most once).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any, Final

import redis.asyncio.cluster as aiocluster
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot

from internal_base.redaction import redact_text
from internal_cache._errors import CacheCrossSlotError
from internal_cache._keys import FENCE_MARK
from internal_cache._topology import Topology

__all__ = [
    "ClusterRedis",
    "NotSentError",
    "RecycledConnectionError",
    "build_cluster",
    "cluster_state",
    "fence_key",
    "has_hash_tag",
    "in_use",
    "mark_stale",
    "recycled",
    "require_one_slot",
    "slot_of",
    "slots_of",
    "wait_idle",
]

#: redis-py's connection and parser modules: an AttributeError on None there is a dropped stream.
_IO_FILES: Final = re.compile(r"redis[/\\](asyncio[/\\]connection|_parsers[/\\])")
#: asyncio's stream and transport modules: on 3.13 a closed transport fails with a TypeError on None.
_ASYNCIO_IO_FILES: Final = re.compile(r"asyncio[/\\](selector_events|streams)\.py$")
#: A cluster error raised before the command was written (the slot map was being refreshed).
_TRANSIENT_TEXT: Final = ("not covered", "cannot be connected", "slots cache")


class NotSentError(redis.exceptions.ConnectionError):
    """The cluster could not route the command (topology in flux); it was certainly not sent."""


def slot_of(key: str | bytes) -> int:
    """The hash slot of ``key`` (``{hash tags}`` honoured), as Redis Cluster computes it."""
    return int(key_slot(key.encode() if isinstance(key, str) else key))


def slots_of(full_keys: Iterable[str | bytes], shown: Sequence[str] | None = None) -> dict[int, list[str]]:
    """Slot -> keys, in order; ``shown`` are the names to report (the caller's unprefixed keys)."""
    slots: dict[int, list[str]] = {}
    for index, key in enumerate(full_keys):
        if shown is not None:
            name = shown[index]
        else:
            name = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
        slots.setdefault(slot_of(key), []).append(name)
    return slots


def require_one_slot(what: str, full_keys: Sequence[str], shown: Sequence[str] | None = None) -> None:
    """Raise :class:`CacheCrossSlotError` unless every key hashes to one slot.

    Args:
        what: The command, named in the error (``"mset"``, ``"pipeline(transaction=True)"``).
        full_keys: The server-side keys.
        shown: The keys as the caller wrote them (default: ``full_keys``).
    """
    if len(full_keys) < 2:
        return
    first = slot_of(full_keys[0])
    if all(slot_of(key) == first for key in full_keys[1:]):
        return
    slots = slots_of(full_keys, shown)
    listed = "; ".join(f"slot {slot}: {', '.join(repr(k) for k in keys)}" for slot, keys in slots.items())
    raise CacheCrossSlotError(
        f"{what} needs all its keys in one hash slot of the Redis Cluster, but they hash to "
        f"{len(slots)} slots ({listed}); give related keys one hash tag, e.g. '{{user:42}}:a' and "
        "'{user:42}:b', or a prefix from with_prefix(..., same_slot=True)",
        slots=slots,
    )


def has_hash_tag(key: str) -> bool:
    """Whether ``key`` has a hash tag: a ``{`` followed later by ``}`` with something between.

    Redis hashes only that part (between the first ``{`` and the first ``}`` after it), so every
    key starting with a prefix that has one lives in one slot.
    """
    start = key.find("{")
    if start < 0:
        return False
    end = key.find("}", start + 1)
    return end > start + 1


def fence_key(key: str) -> str:
    """The fencing counter of the lock ``key`` on a cluster: same slot as ``key``.

    A key with a hash tag keeps it (``FENCE_MARK`` has no braces); any other key becomes the tag
    of its counter (``FENCE_MARK + "{" + key + "}"``), which hashes exactly like the key.

    Raises:
        ValueError: the key's braces make no counter name hash to its slot (e.g. ``a{}b{c}``).
    """
    fence = FENCE_MARK + key if has_hash_tag(key) else FENCE_MARK + "{" + key + "}"
    if slot_of(fence) != slot_of(key):
        raise ValueError(
            f"lock key {key!r} cannot share a hash slot with its fencing counter: its braces are not a "
            "hash tag; use a name with one complete tag ({tag}) or none"
        )
    return fence


def _command_keys(args: Sequence[Any]) -> list[str]:
    """The keys of a raw command, best effort, for error messages (never values)."""
    if not args:
        return []
    command = str(args[0]).upper()
    if command in ("EVAL", "EVALSHA") and len(args) > 2 and str(args[2]).isdigit():
        keys = args[3 : 3 + int(args[2])]
    elif command in ("MSET", "MSETNX"):
        keys = args[1::2]
    elif command in ("MGET", "DEL", "EXISTS", "UNLINK", "TOUCH", "WATCH"):
        keys = args[1:]
    else:
        return []
    return [k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k) for k in keys]


def translate(exc: Exception, args: Sequence[Any] = ()) -> Exception:
    """What a redis-py cluster exception means to this library (see the module docstring)."""
    if (
        isinstance(exc, redis.exceptions.CrossSlotTransactionError)
        or "same key slot" in str(exc)
        or (isinstance(exc, redis.exceptions.ClusterCrossSlotError))
    ):
        keys = _command_keys(args)
        slots = slots_of(keys) if keys else {}
        named = f" {args[0]!s}" if args else ""
        listed = "; ".join(f"slot {slot}: {', '.join(repr(k) for k in ks)}" for slot, ks in slots.items())
        return CacheCrossSlotError(
            f"the Redis Cluster refused the command{named}: its keys are in several hash slots"
            + (f" ({listed})" if listed else "")
            + "; give related keys one hash tag, e.g. '{user:42}:a' and '{user:42}:b'",
            slots=slots,
        )
    if isinstance(exc, redis.exceptions.SlotNotCoveredError) or any(t in str(exc) for t in _TRANSIENT_TEXT):
        return NotSentError(f"the Redis Cluster's topology is changing: {redact_text(str(exc))}")
    if "No way to dispatch" in str(exc):
        command = str(args[0]) if args else "this command"
        return redis.exceptions.DataError(
            f"{command} names no key, so the Redis Cluster client cannot route it; send it through "
            "client.redis with target_nodes=..."
        )
    return redis.exceptions.RedisError(f"{type(exc).__name__}: {redact_text(str(exc))}")


def mark_stale(client: aiocluster.RedisCluster) -> None:
    """Make ``client`` reload the slot map before its next command (a node stopped answering).

    redis-py does this itself after a failed single command, but not after a failed pipeline.
    """
    client._initialize = True  # the flag redis-py's own error handling sets


class RecycledConnectionError(redis.exceptions.ConnectionError):
    """redis-py closed a node connection under a command (a slot-map refresh recycles them all)."""


def recycled(exc: AttributeError | TypeError) -> RecycledConnectionError | None:
    """The connection error an error on a connection closed under a command stands for.

    redis-py 8's ``RedisCluster`` marks every node connection for reconnection on each slot-map
    refresh and closes free ones while other tasks may be connecting them; the task then fails
    with ``'NoneType' object has no attribute 'writelines'`` (its stream was dropped), or on
    Python 3.13 with ``'NoneType' object is not callable`` inside asyncio's closed transport. The
    error keeps the original traceback, so whether the command may have been sent is judged as usual.
    """
    if "NoneType" not in str(exc):
        return None
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    in_redis_io = [bool(_IO_FILES.search(name)) for name in frames]
    # Raised in redis-py's I/O code, or in asyncio's stream/transport code that it called.
    if frames and any(in_redis_io) and (in_redis_io[-1] or _ASYNCIO_IO_FILES.search(frames[-1])):
        error = RecycledConnectionError("the connection was closed under the command by a slot-map refresh")
        return error.with_traceback(exc.__traceback__)
    return None


class ClusterRedis(aiocluster.RedisCluster):
    """redis-py's ``RedisCluster`` whose cluster exceptions are translated (see :func:`translate`)."""

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        """Run a command on its node; cluster exceptions come out as redis-py errors or ours."""
        try:
            return await super().execute_command(*args, **kwargs)
        except redis.exceptions.RedisClusterException as exc:
            raise translate(exc, args) from exc
        except redis.exceptions.ClusterCrossSlotError as exc:
            raise translate(exc, args) from exc
        except (AttributeError, TypeError) as exc:
            error = recycled(exc)
            if error is None:
                raise
            self._initialize = True
            raise error from exc


def in_use(client: aiocluster.RedisCluster) -> int:
    """Connections of the cluster client's nodes that are running a command now."""
    busy = 0
    for node in client.get_nodes():
        busy += len(getattr(node, "_connections", ())) - len(getattr(node, "_free", ()))
    return busy


async def wait_idle(client: aiocluster.RedisCluster, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds until no node connection runs a command; True if none does."""
    deadline = time.monotonic() + timeout
    while in_use(client) > 0:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def cluster_state(client: aiocluster.RedisCluster) -> str:
    """PING every primary of the slot map, then ``cluster_state`` as the default node reports it.

    Raises:
        redis.exceptions.ConnectionError: a primary does not answer.
    """
    await client.ping(target_nodes=aiocluster.RedisCluster.PRIMARIES)
    info = await client.cluster_info()
    return str(info.get("cluster_state", "unknown"))


def build_cluster(
    topology: Topology,
    *,
    timeout: float | None,
    connect_timeout: float,
    max_connections: int,
    health_check_interval: float,
) -> ClusterRedis:
    """A :class:`ClusterRedis` for ``topology`` (not connected yet: it connects on first use)."""
    return ClusterRedis(
        startup_nodes=[aiocluster.ClusterNode(host, port) for host, port in topology.nodes],
        username=topology.username,
        password=topology.password,
        ssl=topology.ssl,
        socket_timeout=timeout,
        socket_connect_timeout=connect_timeout,
        max_connections=max_connections,
        health_check_interval=health_check_interval,
        # Reconnection is the client's (one window, at most once for INCR); redis-py must not retry.
        retry=Retry(NoBackoff(), 0),
    )
