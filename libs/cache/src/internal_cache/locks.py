"""Distributed locks: :class:`Lock` (made by ``CacheClient.lock``) and its errors."""

from __future__ import annotations

from internal_cache._errors import LockAcquireTimeout, LockError, LockLostError, LockNotOwnedError
from internal_cache._lock import Lock

__all__ = ["Lock", "LockAcquireTimeout", "LockError", "LockLostError", "LockNotOwnedError"]
