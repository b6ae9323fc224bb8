"""The Redis client: :class:`CacheClient`, its pipelines, serializers, TTL arguments and errors."""

from __future__ import annotations

from internal_cache._client import CacheClient
from internal_cache._connection import LinkStats
from internal_cache._errors import (
    CacheCrossSlotError,
    CacheError,
    CacheSerializationError,
    CacheUnavailableError,
)
from internal_cache._keys import KeyPrefix
from internal_cache._pipeline import CachePipeline
from internal_cache._serialization import JsonSerializer, RawSerializer, Serializer
from internal_cache._types import DEFAULT, TTL

__all__ = [
    "CacheClient",
    "CacheCrossSlotError",
    "CacheError",
    "CachePipeline",
    "CacheSerializationError",
    "CacheUnavailableError",
    "DEFAULT",
    "JsonSerializer",
    "KeyPrefix",
    "LinkStats",
    "RawSerializer",
    "Serializer",
    "TTL",
]
