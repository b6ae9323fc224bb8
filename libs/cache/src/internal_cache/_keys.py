"""Key prefixing: one namespace string applied exactly once, at the command layer.

The client, its pipelines and its locks each prefix the plain keys they are given
with the same :class:`KeyPrefix`; nothing downstream prefixes again, and keys read
back from the server (``SCAN``) are stripped before they are returned, so feeding
them back into the client never doubles the prefix. Prefixing is a single string
concatenation: no regex, no allocation beyond the key itself.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["FENCE_MARK", "KeyPrefix"]

#: Marks the keys of lock fencing counters (``FENCE_MARK + lock key``). Lock keys may
#: not contain it, so no lock key can ever be another lock's counter, and
#: ``scan_keys()``/``clear()`` skip keys containing it.
FENCE_MARK = "__lock_fence__:"

_GLOB_SPECIAL = str.maketrans({c: "\\" + c for c in "*?[]\\"})


class KeyPrefix:
    """A namespace prepended to keys (``KeyPrefix("app:").key("user:1") == "app:user:1"``)."""

    __slots__ = ("_prefix",)

    def __init__(self, prefix: str = "") -> None:
        if not isinstance(prefix, str):
            raise TypeError(f"key prefix must be str, not {type(prefix).__name__}")
        self._prefix = prefix

    @property
    def prefix(self) -> str:
        """The raw prefix string (may be empty)."""
        return self._prefix

    def key(self, key: str) -> str:
        """The full server-side key for ``key``."""
        return self._prefix + key

    def keys(self, keys: Iterable[str]) -> list[str]:
        """The full server-side keys for ``keys``, in order."""
        p = self._prefix
        return [p + k for k in keys]

    def unprefix(self, key: str | bytes) -> str:
        """The plain key for a full server-side key (inverse of :meth:`key`).

        Raises:
            ValueError: ``key`` is outside this namespace.
        """
        text = key.decode() if isinstance(key, bytes) else key
        if not text.startswith(self._prefix):
            raise ValueError(f"key {text!r} is outside the namespace {self._prefix!r}")
        return text[len(self._prefix) :]

    def pattern(self, match: str = "*") -> str:
        """A ``SCAN MATCH`` glob: the escaped prefix followed by ``match``."""
        return self._prefix.translate(_GLOB_SPECIAL) + match

    def child(self, suffix: str) -> KeyPrefix:
        """A nested namespace (``KeyPrefix("a:").child("b:").prefix == "a:b:"``)."""
        return KeyPrefix(self._prefix + suffix)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeyPrefix) and other._prefix == self._prefix

    def __hash__(self) -> int:
        return hash(self._prefix)

    def __repr__(self) -> str:
        return f"KeyPrefix({self._prefix!r})"
