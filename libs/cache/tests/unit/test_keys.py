"""KeyPrefix: prefixing, stripping, glob escaping and namespaces."""

from __future__ import annotations

import pytest

from internal_cache import KeyPrefix


def test_key_and_keys() -> None:
    """key()/keys() prepend the prefix exactly once."""
    prefix = KeyPrefix("app:")
    assert prefix.key("user:1") == "app:user:1"
    assert prefix.keys(["a", "b"]) == ["app:a", "app:b"]
    assert prefix.prefix == "app:"


def test_empty_prefix_is_identity() -> None:
    """An empty prefix leaves keys unchanged."""
    assert KeyPrefix().key("k") == "k"
    assert KeyPrefix().pattern() == "*"


def test_unprefix_inverts_key() -> None:
    """unprefix() returns the plain key for str and bytes."""
    prefix = KeyPrefix("app:")
    assert prefix.unprefix("app:x") == "x"
    assert prefix.unprefix(b"app:y") == "y"
    assert prefix.unprefix(prefix.key("app:z")) == "app:z"


def test_unprefix_outside_namespace() -> None:
    """unprefix() refuses keys from another namespace."""
    with pytest.raises(ValueError, match="outside the namespace"):
        KeyPrefix("app:").unprefix("other:x")


def test_pattern_escapes_glob_characters() -> None:
    """SCAN patterns escape glob metacharacters of the prefix only."""
    assert KeyPrefix("a*b?[c]\\:").pattern("k*") == "a\\*b\\?\\[c\\]\\\\:k*"


def test_child_eq_hash_repr() -> None:
    """child() nests; equality and hash follow the prefix string."""
    child = KeyPrefix("a:").child("b:")
    assert child == KeyPrefix("a:b:")
    assert hash(child) == hash(KeyPrefix("a:b:"))
    assert child != "a:b:"
    assert repr(child) == "KeyPrefix('a:b:')"


def test_prefix_must_be_str() -> None:
    """A non-str prefix is a TypeError."""
    with pytest.raises(TypeError, match="must be str"):
        KeyPrefix(b"app:")  # type: ignore[arg-type]
