"""internal_cache: an async Redis client and distributed locks you can trust under faults.

Example::

    from internal_cache import CacheClient, CacheSettings

    async with CacheClient.from_settings(CacheSettings(url="redis://localhost:6379/0",
                                                       key_prefix="app:")) as cache:
        await cache.set_value("user:1", {"name": "Ada"}, ttl=60)
        async with cache.lock("jobs:nightly", ttl=5, auto_renew=True) as lock:
            lock.ensure_held()
"""

from __future__ import annotations

from internal_cache._client import CacheClient
from internal_cache._config import CacheSettings
from internal_cache._errors import (
    CacheError,
    CacheUnavailableError,
    LockAcquireTimeout,
    LockError,
    LockLostError,
    LockNotOwnedError,
    SerializationError,
)
from internal_cache._keys import KeyPrefix
from internal_cache._lock import Lock
from internal_cache._pipeline import CachePipeline
from internal_cache._serialization import JsonSerializer, RawSerializer, Serializer
from internal_cache._types import DEFAULT, TTL

__all__ = [
    "CacheClient",
    "CacheError",
    "CachePipeline",
    "CacheSettings",
    "CacheUnavailableError",
    "DEFAULT",
    "JsonSerializer",
    "KeyPrefix",
    "Lock",
    "LockAcquireTimeout",
    "LockError",
    "LockLostError",
    "LockNotOwnedError",
    "RawSerializer",
    "SerializationError",
    "Serializer",
    "TTL",
]
