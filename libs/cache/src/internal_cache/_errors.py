"""Errors raised by internal_cache.

Every error derives from :class:`CacheError`, itself an
``internal_base.errors.CommonsError``. redis-py exceptions are translated at
the I/O boundary (``raise ... from exc``), so the original error stays in
``__cause__`` and callers never need to import ``redis.exceptions``::

    CommonsError                      (internal_base.errors)
    └── CacheError                    any failure of this library
        ├── CacheUnavailableError     (also a ConnectionError) Redis unreachable: window used up,
        │                             circuit open (``retry_after`` set), or a command lost in flight
        ├── CacheSerializationError   (also a ValueError) a value could not be encoded/decoded
        ├── CacheCrossSlotError       (also a ValueError) on a Redis Cluster, keys of one atomic
        │                             command, transaction or pipeline command span hash slots
        └── LockError                 misuse or failure of a distributed lock
            ├── LockAcquireTimeout    (also a TimeoutError) blocking acquire gave up
            └── LockNotOwnedError     release/extend of a lock we do not hold
                └── LockLostError     a held lock expired or was taken over
"""

from __future__ import annotations

from typing import Any

from internal_base.errors import CommonsError

__all__ = [
    "CacheCrossSlotError",
    "CacheError",
    "CacheSerializationError",
    "CacheUnavailableError",
    "LockAcquireTimeout",
    "LockError",
    "LockLostError",
    "LockNotOwnedError",
]


class CacheError(CommonsError):
    """Root of every error raised by internal_cache."""


class CacheUnavailableError(CacheError, ConnectionError):
    """Redis could not be used: unreachable within the reconnection window, or its circuit is open.

    Attributes:
        retry_after: Seconds until the circuit breaker lets a probe call through, when known
            (the circuit is open); ``None`` otherwise.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = None if retry_after is None else max(0.0, retry_after)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), str(self), self.retry_after))


def _rebuild(
    cls: type[CacheUnavailableError], message: str, retry_after: float | None
) -> CacheUnavailableError:
    return cls(message, retry_after=retry_after)


class CacheSerializationError(CacheError, ValueError):
    """A value could not be serialized, or stored bytes could not be deserialized."""


class CacheCrossSlotError(CacheError, ValueError):
    """Keys that must live in one hash slot of a Redis Cluster do not (nothing was sent).

    Raised for an atomic multi-key command (``mset``), a transaction, a multi-key command queued
    in a pipeline, or a raw command Redis answered with ``CROSSSLOT``. Put the keys in one slot
    with a hash tag (``{user:42}:profile``, ``{user:42}:cart``, or ``with_prefix(..., same_slot=True)``).

    Attributes:
        slots: Hash slot -> the (unprefixed, when known) keys that hash to it.
    """

    def __init__(self, message: str, *, slots: dict[int, list[str]] | None = None) -> None:
        super().__init__(message)
        self.slots: dict[int, list[str]] = dict(slots or {})

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_cross_slot, (type(self), str(self), self.slots))


def _rebuild_cross_slot(
    cls: type[CacheCrossSlotError], message: str, slots: dict[int, list[str]]
) -> CacheCrossSlotError:
    return cls(message, slots=slots)


class LockError(CacheError):
    """A distributed lock was misused or failed."""


class LockAcquireTimeout(LockError, TimeoutError):
    """A blocking acquire did not obtain the lock before its timeout."""


class LockNotOwnedError(LockError):
    """The caller tried to release or extend a lock it does not hold."""


class LockLostError(LockNotOwnedError):
    """A lock the caller held expired or was taken by someone else."""
