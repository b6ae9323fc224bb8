"""Settings of internal_cache: ``CacheSettings`` and its resilience section (env ``COMMONS_CACHE_``)."""

from __future__ import annotations

from internal_cache._config import (
    CacheBackoffSettings,
    CacheBreakerSettings,
    CacheResilienceSettings,
    CacheRetrySettings,
    CacheSettings,
)

__all__ = [
    "CacheBackoffSettings",
    "CacheBreakerSettings",
    "CacheResilienceSettings",
    "CacheRetrySettings",
    "CacheSettings",
]
