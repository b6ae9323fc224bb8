"""Value serializers used by the typed ``*_value`` helpers of the client.

A serializer turns a Python value into the bytes stored in Redis and back.
:class:`JsonSerializer` is the default; :class:`RawSerializer` stores bytes and
str unchanged. Anything with ``dumps``/``loads`` satisfies :class:`Serializer`.
Pickle is deliberately not offered: unpickling data read from a shared server
executes code chosen by whoever could write that key.
"""

from __future__ import annotations

import json
from typing import Any, Protocol, runtime_checkable

from internal_cache._errors import CacheSerializationError

__all__ = ["JsonSerializer", "RawSerializer", "Serializer"]


@runtime_checkable
class Serializer(Protocol):
    """Encodes values to bytes for storage and decodes them back."""

    def dumps(self, value: Any) -> bytes:
        """Encode ``value``; raise :class:`CacheSerializationError` when impossible."""
        ...

    def loads(self, data: bytes) -> Any:
        """Decode bytes produced by :meth:`dumps`."""
        ...


class JsonSerializer:
    """Compact UTF-8 JSON; the default serializer."""

    __slots__ = ("_decoder", "_encoder")

    def __init__(self, *, sort_keys: bool = False) -> None:
        self._encoder = json.JSONEncoder(
            ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys, allow_nan=False
        )
        self._decoder = json.JSONDecoder()

    def dumps(self, value: Any) -> bytes:
        """Encode ``value`` as JSON bytes."""
        try:
            return self._encoder.encode(value).encode()
        except (TypeError, ValueError) as exc:
            raise CacheSerializationError(f"cannot encode {type(value).__name__} as JSON: {exc}") from exc

    def loads(self, data: bytes) -> Any:
        """Decode JSON bytes."""
        try:
            return self._decoder.decode(data.decode())
        except (UnicodeDecodeError, ValueError) as exc:
            raise CacheSerializationError(f"stored value is not valid JSON: {exc}") from exc


class RawSerializer:
    """Stores ``bytes`` unchanged and ``str`` as UTF-8; loads always return ``bytes``."""

    __slots__ = ()

    def dumps(self, value: Any) -> bytes:
        """Return ``value`` as bytes."""
        if isinstance(value, bytes):
            return value
        if isinstance(value, str):
            return value.encode()
        raise CacheSerializationError(f"RawSerializer stores bytes or str, not {type(value).__name__}")

    def loads(self, data: bytes) -> Any:
        """Return the stored bytes."""
        return data
