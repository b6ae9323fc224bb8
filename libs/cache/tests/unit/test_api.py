"""Public surface: __all__, error tree and serializers."""

from __future__ import annotations

import pytest

import internal_cache
from internal_base.errors import CommonsError
from internal_cache import (
    CacheError,
    CacheUnavailableError,
    JsonSerializer,
    LockAcquireTimeout,
    LockError,
    LockLostError,
    LockNotOwnedError,
    RawSerializer,
    SerializationError,
    Serializer,
)


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted and every name is importable."""
    assert internal_cache.__all__ == sorted(internal_cache.__all__)
    public = {name for name in dir(internal_cache) if not name.startswith("_")}
    assert set(internal_cache.__all__) == public - {"annotations"}
    for name in internal_cache.__all__:
        assert getattr(internal_cache, name) is not None


def test_error_tree() -> None:
    """Errors hang off CommonsError as drawn in _errors.py."""
    assert issubclass(CacheError, CommonsError)
    assert issubclass(CacheUnavailableError, CacheError)
    assert issubclass(SerializationError, CacheError)
    assert issubclass(LockError, CacheError)
    assert issubclass(LockAcquireTimeout, LockError)
    assert issubclass(LockAcquireTimeout, TimeoutError)
    assert issubclass(LockNotOwnedError, LockError)
    assert issubclass(LockLostError, LockNotOwnedError)


def test_json_serializer_round_trip() -> None:
    """JSON round-trips nested values compactly and keeps non-ASCII text."""
    serializer = JsonSerializer(sort_keys=True)
    data = serializer.dumps({"b": [1, 2.5, None], "a": "é"})
    assert data == '{"a":"é","b":[1,2.5,null]}'.encode()
    assert serializer.loads(data) == {"a": "é", "b": [1, 2.5, None]}
    assert isinstance(serializer, Serializer)


@pytest.mark.parametrize("value", [object(), float("nan"), {1j}])
def test_json_serializer_rejects(value: object) -> None:
    """Unencodable values raise SerializationError."""
    with pytest.raises(SerializationError, match="cannot encode"):
        JsonSerializer().dumps(value)


def test_json_serializer_bad_data() -> None:
    """Corrupt stored bytes raise SerializationError."""
    with pytest.raises(SerializationError, match="not valid JSON"):
        JsonSerializer().loads(b"\xff{")


def test_raw_serializer() -> None:
    """RawSerializer passes bytes through and encodes str."""
    serializer = RawSerializer()
    assert serializer.dumps(b"x") == b"x"
    assert serializer.dumps("é") == "é".encode()
    assert serializer.loads(b"y") == b"y"
    with pytest.raises(SerializationError, match="bytes or str"):
        serializer.dumps(3)
