"""Public surface: public modules, error tree and serializers."""

from __future__ import annotations

import pickle

import pytest

from internal_base.errors import CommonsError
from internal_cache import (
    CacheCrossSlotError,
    CacheError,
    CacheSerializationError,
    CacheUnavailableError,
    JsonSerializer,
    LockAcquireTimeout,
    LockError,
    LockLostError,
    LockNotOwnedError,
    RawSerializer,
    Serializer,
)
from internal_testing.public_api import assert_public_api


@pytest.mark.parametrize(
    "module",
    [
        "internal_cache",
        "internal_cache.client",
        "internal_cache.locks",
        "internal_cache.config",
        "internal_cache.telemetry",
    ],
)
def test_public_api(module: str) -> None:
    """Each public module has a sorted, complete, documented __all__."""
    assert_public_api(module)


def test_telemetry_names_match_the_family() -> None:
    """internal_cache.telemetry: instrument/is_instrumented/uninstrument, as in aws, rdbms, http, fastapi."""
    from internal_cache import telemetry

    assert telemetry.__all__ == ["instrument", "is_instrumented", "uninstrument"]
    assert telemetry.is_instrumented() is False
    assert not hasattr(telemetry, "instrumented")


def test_error_tree() -> None:
    """Errors hang off CommonsError as drawn in _errors.py."""
    assert issubclass(CacheError, CommonsError)
    assert issubclass(CacheUnavailableError, CacheError)
    assert issubclass(CacheUnavailableError, ConnectionError)
    assert issubclass(CacheSerializationError, CacheError)
    assert issubclass(CacheSerializationError, ValueError)
    assert issubclass(CacheCrossSlotError, CacheError)
    assert issubclass(CacheCrossSlotError, ValueError)
    assert issubclass(LockError, CacheError)
    assert issubclass(LockAcquireTimeout, LockError)
    assert issubclass(LockAcquireTimeout, TimeoutError)
    assert issubclass(LockNotOwnedError, LockError)
    assert issubclass(LockLostError, LockNotOwnedError)


def test_unavailable_error_carries_retry_after() -> None:
    """CacheUnavailableError keeps retry_after (never negative) across pickling."""
    assert CacheUnavailableError("down").retry_after is None
    error = pickle.loads(pickle.dumps(CacheUnavailableError("down", retry_after=1.5)))
    assert (str(error), error.retry_after) == ("down", 1.5)
    assert CacheUnavailableError("down", retry_after=-1).retry_after == 0.0


def test_json_serializer_round_trip() -> None:
    """JSON round-trips nested values compactly and keeps non-ASCII text."""
    serializer = JsonSerializer(sort_keys=True)
    data = serializer.dumps({"b": [1, 2.5, None], "a": "é"})
    assert data == '{"a":"é","b":[1,2.5,null]}'.encode()
    assert serializer.loads(data) == {"a": "é", "b": [1, 2.5, None]}
    assert isinstance(serializer, Serializer)


@pytest.mark.parametrize("value", [object(), float("nan"), {1j}])
def test_json_serializer_rejects(value: object) -> None:
    """Unencodable values raise CacheSerializationError."""
    with pytest.raises(CacheSerializationError, match="cannot encode"):
        JsonSerializer().dumps(value)


def test_json_serializer_bad_data() -> None:
    """Corrupt stored bytes raise CacheSerializationError."""
    with pytest.raises(CacheSerializationError, match="not valid JSON"):
        JsonSerializer().loads(b"\xff{")


def test_raw_serializer() -> None:
    """RawSerializer passes bytes through and encodes str."""
    serializer = RawSerializer()
    assert serializer.dumps(b"x") == b"x"
    assert serializer.dumps("é") == "é".encode()
    assert serializer.loads(b"y") == b"y"
    with pytest.raises(CacheSerializationError, match="bytes or str"):
        serializer.dumps(3)
