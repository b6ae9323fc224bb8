"""internal_cache: an async Redis client and distributed locks you can trust under faults.

Public modules: :mod:`internal_cache.client` (``CacheClient``, pipelines, serializers),
:mod:`internal_cache.locks` (``Lock`` and its errors) and :mod:`internal_cache.config`
(``CacheSettings``); everything is also importable from the package root.

Example::

    from internal_cache import CacheClient

    async with CacheClient() as cache:  # CacheSettings.load(): env COMMONS_CACHE_*, YAML cache:
        await cache.set_value("user:1", {"name": "Ada"}, ttl=60)
        async with cache.lock("jobs:nightly", ttl=5, auto_renew=True) as lock:
            lock.ensure_held()
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from internal_cache.client import (
    DEFAULT,
    TTL,
    CacheClient,
    CacheCrossSlotError,
    CacheError,
    CachePipeline,
    CacheSerializationError,
    CacheUnavailableError,
    JsonSerializer,
    KeyPrefix,
    LinkStats,
    RawSerializer,
    Serializer,
)
from internal_cache.config import CacheResilienceSettings, CacheSettings
from internal_cache.locks import Lock, LockAcquireTimeout, LockError, LockLostError, LockNotOwnedError

try:
    __version__ = version("internal-cache")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
    __version__ = "0.0.0+source"

__all__ = [
    "CacheClient",
    "CacheCrossSlotError",
    "CacheError",
    "CachePipeline",
    "CacheResilienceSettings",
    "CacheSerializationError",
    "CacheSettings",
    "CacheUnavailableError",
    "DEFAULT",
    "JsonSerializer",
    "KeyPrefix",
    "LinkStats",
    "Lock",
    "LockAcquireTimeout",
    "LockError",
    "LockLostError",
    "LockNotOwnedError",
    "RawSerializer",
    "Serializer",
    "TTL",
]
