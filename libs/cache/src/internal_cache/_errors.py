"""Errors raised by internal_cache.

Every error derives from :class:`CacheError`, itself an
``internal_base.errors.CommonsError``. redis-py exceptions are translated at
the I/O boundary (``raise ... from exc``), so the original error stays in
``__cause__`` and callers never need to import ``redis.exceptions``::

    CommonsError
    └── CacheError                    any failure of this library
        ├── CacheUnavailableError     server unreachable after the retry window
        ├── SerializationError        a value could not be encoded/decoded
        └── LockError                 misuse or failure of a distributed lock
            ├── LockAcquireTimeout    blocking acquire gave up (also TimeoutError)
            └── LockNotOwnedError     release/extend of a lock we do not hold
                └── LockLostError     a held lock expired or was taken over
"""

from __future__ import annotations

from internal_base.errors import CommonsError

__all__ = [
    "CacheError",
    "CacheUnavailableError",
    "LockAcquireTimeout",
    "LockError",
    "LockLostError",
    "LockNotOwnedError",
    "SerializationError",
]


class CacheError(CommonsError):
    """Root of every error raised by internal_cache."""


class CacheUnavailableError(CacheError):
    """The Redis server could not be reached within the reconnection window."""


class SerializationError(CacheError):
    """A value could not be serialized or deserialized."""


class LockError(CacheError):
    """A distributed lock was misused or failed."""


class LockAcquireTimeout(LockError, TimeoutError):
    """A blocking acquire did not obtain the lock before its timeout."""


class LockNotOwnedError(LockError):
    """The caller tried to release or extend a lock it does not hold."""


class LockLostError(LockNotOwnedError):
    """A lock the caller held expired or was taken by someone else."""
