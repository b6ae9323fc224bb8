"""Distributed locks: token-owned, Lua compare-and-act, auto-renewal, fencing tokens.

Protocol (single Redis server; all keys under the client's prefix):

* acquire: one Lua script -- if the key is free, ``SET key token PX ttl`` and
  ``INCR`` the fencing counter ``FENCE_MARK + prefix + name`` (one per lock key, a key
  no lock key can be, kept by ``clear()``); a missing counter starts from the server's clock in
  microseconds, so tokens keep growing even after Redis lost its data. If the key already
  holds *our* token (a retried acquire whose first reply was lost), refresh it and return
  the current fence; otherwise return 0 (busy). Retrying an acquire is therefore safe.
  Both keys' types are checked before anything is written, so a key of the wrong type
  fails the acquire without leaving a half-written lock.
* a cancellation that reaches a waiting ``acquire`` always ends it, even one that
  redis-py swallowed while a command completed (Python 3.11's ``wait_for``): the task's
  ``cancelling()`` count is checked after every attempt and a token won meanwhile is
  released.
* release / extend: Lua compare-and-delete / compare-and-pexpire on the token, so
  nobody releases or extends a lock they do not hold.
* release runs in a task the client keeps alive and is awaited through
  :func:`asyncio.shield`: cancelling the holder (even mid-release) never leaves
  the key behind (redis-py #3847). A cancelled *acquire* also releases its token,
  in case the SET reached the server before the cancellation.
* auto-renewal extends the TTL every ``renew_interval`` seconds; when an extend
  reports the key is no longer ours, or the local validity window (``ttl`` minus
  a clock-drift margin, counted from when the last successful request was sent)
  runs out while the server is unreachable, the lock is marked lost:
  :attr:`Lock.lost` turns True, :meth:`Lock.ensure_held` raises
  :class:`LockLostError`, :meth:`Lock.wait_lost` returns, ``on_lost`` is called.
  Without auto-renewal a loop timer does the same when the ttl runs out.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, Final, Protocol

from redis.exceptions import NoScriptError

from internal_base.logging import get_logger
from internal_base.resilience import Backoff, sleep, with_timeout
from internal_cache._cluster import fence_key
from internal_cache._connection import (
    COMMAND_ERRORS,
    CONNECTION_ERRORS,
    AnyRedis,
    RedisLink,
    cancel_requested,
)
from internal_cache._errors import (
    CacheError,
    LockAcquireTimeout,
    LockError,
    LockLostError,
    LockNotOwnedError,
)
from internal_cache._keys import FENCE_MARK
from internal_cache._types import DEFAULT, Default, ttl_to_ms

__all__ = ["Lock"]

_log = get_logger("internal_cache.lock")
_monotonic = time.monotonic
#: Seconds an acquire attempt may wait for the server's answer even past the acquire deadline.
_MIN_ATTEMPT: Final = 1.0


class _Owner(Protocol):
    """What a lock needs from its :class:`~internal_cache.CacheClient`."""

    @property
    def redis(self) -> AnyRedis: ...

    @property
    def cluster(self) -> bool: ...

    @property
    def link(self) -> RedisLink: ...

    def key(self, key: str) -> str: ...


class _Script:
    """A Lua script run by EVALSHA, falling back to EVAL (which caches it) after a flush."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def run(self, r: AnyRedis, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await r.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await r.eval(self.source, len(keys), *keys, *args)


# KEYS: lock key, fence key. ARGV: token, ttl ms, "1" to issue a fencing token.
# Reads and type checks come first: a WRONGTYPE or a corrupt counter aborts the script
# before it has written anything.
_ACQUIRE: Final = _Script(
    """
local current = redis.call('get', KEYS[1])
if current and current ~= ARGV[1] then return 0 end
if ARGV[3] ~= '1' then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
local kind = redis.call('type', KEYS[2])['ok']
if kind == 'string' then
  local fence = tonumber(redis.call('get', KEYS[2]))
  if not fence then return redis.error_reply('fence key ' .. KEYS[2] .. ' does not hold a counter') end
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  if current then return fence end
  return redis.call('incr', KEYS[2])
elseif kind ~= 'none' then
  return redis.error_reply('fence key ' .. KEYS[2] .. ' holds a ' .. kind .. ', not a counter')
end
local now = redis.call('time')
redis.call('set', KEYS[2], now[1] .. string.format('%06d', tonumber(now[2])))
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('incr', KEYS[2])
"""
)
# KEYS: lock key. ARGV: token.
_RELEASE: Final = _Script(
    """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
)
# KEYS: lock key. ARGV: token, ttl ms.
_EXTEND: Final = _Script(
    """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
)


class Lock:
    """A distributed lock on the key ``client.key(name)``.

    Use as ``async with client.lock("jobs:42", ttl=5) as lock: ...`` or call
    :meth:`acquire` / :meth:`release`. One ``Lock`` object holds at most one
    acquisition at a time (not re-entrant) and can be reused after release.

    Args:
        client: The :class:`CacheClient` (its prefix and reconnection policy apply).
        name: Lock name; the key is ``prefix + name``, the fencing counter
            ``FENCE_MARK + prefix + name`` (persistent and kept by ``clear()``, so tokens
            stay monotonic). One counter per lock *key*: ``a:`` + ``jobs:x`` and
            ``a:jobs:`` + ``x`` are one lock with one sequence of tokens. Neither name nor
            prefix may contain ``FENCE_MARK`` (``"__lock_fence__:"``).
        ttl: Seconds before an unreleased lock expires (a crashed holder frees it then).
        timeout: Default seconds a blocking :meth:`acquire` waits (``None``: forever).
        retry_interval: Mean pause between acquire attempts while the lock is busy (each
            pause drawn uniformly from ``[0, 2 * retry_interval]``).
        backoff: A schedule for those pauses instead of ``retry_interval``, e.g.
            ``Backoff(initial=0.01, maximum=0.5)`` to poll less as the wait grows.
        auto_renew: Extend the TTL in the background while held.
        renew_interval: Seconds between renewals (default ``ttl / 3``).
        fencing: Issue a fencing token (:attr:`fencing_token`) per acquisition.
        on_lost: Called with this lock when it is found lost; an ``async def`` callback
            runs as a background task (drained by ``aclose()``). Its errors are logged.
    """

    __slots__ = (
        "_client",
        "_drift",
        "_expiry",
        "_fence",
        "_fence_key",
        "_fencing",
        "_key",
        "_lost",
        "_lost_event",
        "_name",
        "_on_lost",
        "_poll",
        "_px",
        "_renew_interval",
        "_renew_task",
        "_timeout",
        "_token",
        "_ttl",
        "_valid_until",
        "auto_renew",
    )

    def __init__(
        self,
        client: _Owner,
        name: str,
        *,
        ttl: float = 10.0,
        timeout: float | None = 10.0,
        retry_interval: float = 0.05,
        backoff: Backoff | None = None,
        auto_renew: bool = False,
        renew_interval: float | None = None,
        fencing: bool = True,
        on_lost: Callable[[Lock], object] | None = None,
    ) -> None:
        if not name:
            raise ValueError("lock name must not be empty")
        key = client.key(name)
        if FENCE_MARK in key:
            raise ValueError(f"lock key {key!r} contains the reserved marker {FENCE_MARK!r}")
        if not retry_interval > 0:
            raise ValueError(f"retry_interval must be > 0, got {retry_interval!r}")
        if timeout is not None and not timeout >= 0:
            raise ValueError(f"timeout must be >= 0 or None, got {timeout!r}")
        self._px = ttl_to_ms(ttl)
        if renew_interval is None:
            renew_interval = ttl / 3
        if not 0 < renew_interval < ttl:
            raise ValueError(f"renew_interval must be in (0, ttl), got {renew_interval!r}")
        self._client = client
        self._name = name
        self._key = key
        # Derived from the full key, not (prefix, name): the same key reached through two
        # namespace splits must not get two counters, or its tokens would go backwards.
        # On a Redis Cluster the counter must share the lock key's hash slot (one script touches
        # both): a hash tag does it (see _cluster.fence_key). Without fencing the script never
        # touches its second key: the lock key itself stands in (any key name works then).
        if not client.cluster:
            self._fence_key = FENCE_MARK + key
        else:
            self._fence_key = fence_key(key) if fencing else key
        self._ttl = ttl
        self._drift = ttl * 0.01 + 0.002
        self._timeout = timeout
        self._poll = (
            backoff
            if backoff is not None
            else Backoff(initial=2 * retry_interval, maximum=2 * retry_interval, multiplier=1.0)
        )
        self.auto_renew = auto_renew
        self._renew_interval = renew_interval
        self._fencing = fencing
        self._on_lost = on_lost
        self._token: str | None = None
        self._fence: int | None = None
        self._valid_until = 0.0
        self._lost: LockLostError | None = None
        self._lost_event: asyncio.Event | None = None
        self._renew_task: asyncio.Task[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ state

    @property
    def name(self) -> str:
        """The lock name (unprefixed)."""
        return self._name

    @property
    def key(self) -> str:
        """The full server-side key."""
        return self._key

    @property
    def ttl(self) -> float:
        """Seconds an acquisition lasts without renewal."""
        return self._ttl

    @property
    def token(self) -> str | None:
        """The random owner token of the current acquisition (``None`` when not held)."""
        return self._token

    @property
    def held(self) -> bool:
        """Locally known to be held: acquired, not lost, validity window not over."""
        return self._token is not None and self._lost is None and _monotonic() < self._valid_until

    @property
    def lost(self) -> bool:
        """Acquired but known or presumed lost (renewal failed, or the TTL ran out)."""
        return self._token is not None and not self.held

    @property
    def remaining(self) -> float:
        """Conservative seconds of validity left (0.0 when not held)."""
        if self._token is None or self._lost is not None:
            return 0.0
        return max(0.0, self._valid_until - _monotonic())

    @property
    def fencing_token(self) -> int:
        """The monotonic fencing number of the current acquisition.

        Pass it to other systems with each write so they can reject writes from a
        holder that lost the lock (a newer acquisition always has a larger number).

        Raises:
            LockNotOwnedError: not held. LockError: created with ``fencing=False``.
        """
        if not self._fencing:
            raise LockError(f"lock {self._name!r} was created with fencing=False")
        if self._token is None or self._fence is None:
            raise LockNotOwnedError(f"lock {self._name!r} is not held")
        return self._fence

    def ensure_held(self) -> None:
        """Raise unless the lock is (locally known to be) still held; call before acting.

        Raises:
            LockNotOwnedError: never acquired or already released.
            LockLostError: renewal failed or the validity window ran out.
        """
        if self._token is None:
            raise LockNotOwnedError(f"lock {self._name!r} is not held")
        if self._lost is not None:
            raise self._lost
        if _monotonic() >= self._valid_until:
            raise LockLostError(f"lock {self._name!r} outlived its ttl of {self._ttl}s")

    async def owned(self) -> bool:
        """Ask the server whether the key still holds this acquisition's token."""
        token = self._token
        if token is None:
            return False
        current = await self._client.link.run(self._client.redis.get, self._key)
        if isinstance(current, bytes):
            current = current.decode()
        return current == token

    async def verify(self) -> None:
        """Like :meth:`ensure_held` but checks the server; marks the lock lost if not owned."""
        self.ensure_held()
        if not await self.owned():
            self._mark_lost("is no longer owned (expired or taken over)")
            self.ensure_held()

    async def wait_lost(self) -> LockLostError:
        """Wait until the lock is found lost (use in a task racing the critical section).

        Without auto-renewal nothing extends the lock, so it counts as lost once its
        validity window (moved by :meth:`extend`) runs out.
        """
        while self._lost is None:
            if self._lost_event is None:
                self._lost_event = asyncio.Event()
            if self._token is None or self._renew_task is not None:
                await self._lost_event.wait()
                continue
            remaining = self._valid_until - _monotonic()
            if remaining <= 0:
                self._mark_lost(f"outlived its ttl of {self._ttl}s")
                continue
            try:
                await with_timeout(self._lost_event.wait(), remaining)
            except TimeoutError:
                continue
        return self._lost

    def _arm_expiry(self, token: str) -> None:
        """Without renewal, mark the lock lost when its validity window ends (no awaiting needed)."""
        if self._expiry is not None:
            self._expiry.cancel()
        delay = max(0.0, self._valid_until - _monotonic())
        self._expiry = asyncio.get_running_loop().call_later(delay, self._expire, token)

    def _expire(self, token: str) -> None:
        self._expiry = None
        if self._token != token or self._lost is not None or self._renew_task is not None:
            return
        if _monotonic() < self._valid_until:  # extended since the timer was armed
            self._arm_expiry(token)
            return
        self._mark_lost(f"outlived its ttl of {self._ttl}s")

    def _disarm_expiry(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    def _mark_lost(self, reason: str) -> None:
        if self._lost is not None or self._token is None:
            return
        self._disarm_expiry()
        self._lost = LockLostError(f"lock {self._name!r} {reason}")
        _log.error("lock %r lost: %s", self._name, reason)
        if self._lost_event is not None:
            self._lost_event.set()
        if self._on_lost is not None:
            try:
                result = self._on_lost(self)
            except Exception:  # a callback bug must not kill renewal bookkeeping
                _log.exception("on_lost callback of lock %r failed", self._name)
            else:
                if inspect.isawaitable(result):  # an async callback: run it, never drop it
                    self._client.link.spawn(self._run_on_lost(result))

    async def _run_on_lost(self, result: Awaitable[object]) -> None:
        try:
            await result
        except Exception:
            _log.exception("on_lost callback of lock %r failed", self._name)

    # ------------------------------------------------------------------ acquire

    async def acquire(self, *, blocking: bool = True, timeout: float | None | Default = DEFAULT) -> bool:
        """Acquire the lock.

        Args:
            blocking: Wait for the lock; when False, try once.
            timeout: Seconds to wait (default: the lock's ``timeout``; ``None``: forever).

        Returns:
            True when acquired; False only when ``blocking=False`` and the lock is busy.

        Raises:
            LockAcquireTimeout: blocking and not acquired within ``timeout``.
            LockError: this ``Lock`` object already holds the lock.
            CacheUnavailableError: the server stayed unreachable.
        """
        if self._token is not None:
            raise LockError(f"lock {self._name!r} is already held by this Lock object")
        wait = self._timeout if timeout is DEFAULT else timeout
        token = secrets.token_hex(16)
        deadline = None if wait is None else _monotonic() + wait
        task = asyncio.current_task()
        baseline = task.cancelling() if task is not None else 0
        attempt = 0
        while True:
            attempt += 1
            started = _monotonic()
            result = await self._try_acquire(token, deadline)
            if cancel_requested(task, baseline):
                # redis-py swallowed the cancellation while the script's reply arrived.
                if result:
                    self._client.link.spawn(self._release_token(token))
                raise asyncio.CancelledError(f"acquire of lock {self._name!r} cancelled")
            if result:
                self._acquired(token, result, started)
                return True
            if not blocking:
                return False
            now = _monotonic()
            if deadline is not None and now >= deadline:
                raise LockAcquireTimeout(f"lock {self._name!r} not acquired within {wait}s")
            pause = self._poll.delay(attempt)
            if deadline is not None:
                pause = min(pause, deadline - now)
            await sleep(pause)

    async def _try_acquire(self, token: str, deadline: float | None) -> int:
        client = self._client
        link = client.link
        args = (client.redis, (self._key, self._fence_key), (token, self._px, "1" if self._fencing else "0"))
        try:
            # Blocking waits end at the acquire deadline, whatever the reconnection window.
            if link.down:
                result = await link.guarded(_ACQUIRE.run, args, {})
            else:
                try:
                    result = await self._bounded(_ACQUIRE.run(*args), token, deadline)
                except CacheError:
                    raise  # LockAcquireTimeout is a TimeoutError, hence an OSError: not a lost link
                except CONNECTION_ERRORS as exc:
                    result = await link.recover(exc, _ACQUIRE.run, args, {}, until=deadline)
                except COMMAND_ERRORS as exc:
                    raise link.error(exc) from exc
        except asyncio.CancelledError:
            # The SET may have reached the server before we were cancelled.
            link.spawn(self._release_token(token))
            raise
        return int(result)

    async def _bounded(self, attempt: Awaitable[Any], token: str, deadline: float | None) -> Any:
        """``attempt``, given up at the acquire deadline (a frozen server answers nothing).

        Without this bound one attempt lasts the socket timeout, however short ``timeout`` is.
        Every attempt gets at least ``_MIN_ATTEMPT`` seconds, so ``timeout=0`` (or the last
        poll before the deadline) still tries once on a slow but working server.
        """
        if deadline is None:
            return await attempt
        manager = asyncio.timeout(max(deadline - _monotonic(), _MIN_ATTEMPT))
        try:
            async with manager:
                return await attempt
        except TimeoutError as exc:
            if not manager.expired():  # a socket-level timeout: the caller recovers from it
                raise
            # The SET may have reached the server: free the token once it answers again.
            self._client.link.spawn(self._release_token(token))
            raise LockAcquireTimeout(
                f"lock {self._name!r} not acquired within its timeout: Redis did not answer in time"
            ) from exc

    def _acquired(self, token: str, result: int, started: float) -> None:
        self._token = token
        self._fence = result if self._fencing else None
        self._valid_until = started + self._ttl - self._drift
        self._lost = None
        if self._lost_event is not None:
            self._lost_event.clear()
        if self.auto_renew:
            self._renew_task = asyncio.ensure_future(self._renew_loop(token))
        else:
            self._arm_expiry(token)

    # ------------------------------------------------------------------ renew / extend

    async def extend(self, ttl: float | None = None) -> None:
        """Reset the TTL to ``ttl`` seconds (default: the lock's ttl) if still ours.

        Raises:
            LockNotOwnedError: not held. LockLostError: the key is no longer ours.
        """
        token = self._token
        if token is None:
            raise LockNotOwnedError(f"lock {self._name!r} is not held")
        seconds = self._ttl if ttl is None else ttl
        px = ttl_to_ms(seconds)
        started = _monotonic()
        client = self._client
        ok = await client.link.run(_EXTEND.run, client.redis, (self._key,), (token, px))
        if not ok:
            self._mark_lost("could not be extended: no longer owned")
            raise self._lost if self._lost is not None else LockLostError(self._name)
        if self._token == token:
            self._valid_until = started + seconds - (seconds * 0.01 + 0.002)
            if self._renew_task is None and self._lost is None:
                self._arm_expiry(token)

    async def _renew_loop(self, token: str) -> None:
        client = self._client
        interval = self._renew_interval
        while self._token == token and self._lost is None:
            await sleep(interval)
            started = _monotonic()
            remaining = self._valid_until - started
            if remaining <= 0:
                self._mark_lost("expired: it could not be renewed in time")
                return
            try:
                ok = await with_timeout(_EXTEND.run(client.redis, (self._key,), (token, self._px)), remaining)
            except Exception as exc:  # any failure: retry until the validity window ends
                _log.warning("renewing lock %r failed (%s); retrying", self._name, exc)
                interval = min(self._renew_interval, max(remaining / 4, 0.005))
                continue
            if not ok:
                self._mark_lost("was taken over or expired before renewal")
                return
            if self._token == token:
                self._valid_until = started + self._ttl - self._drift
            interval = self._renew_interval

    # ------------------------------------------------------------------ release

    async def release(self) -> None:
        """Release the lock (compare-and-delete), even if the caller is cancelled meanwhile.

        The key is deleted if it still holds our token, whatever the local state.

        Raises:
            LockNotOwnedError: not held by this object.
            LockLostError: the key had expired or belonged to someone else, or the lock had
                already been reported lost (renewal failed) while held.
        """
        token = self._token
        if token is None:
            raise LockNotOwnedError(f"lock {self._name!r} is not held")
        lost = self._lost
        renew, self._renew_task = self._renew_task, None
        self._token = None
        self._fence = None
        self._disarm_expiry()
        if renew is not None:
            renew.cancel()
        task = self._client.link.spawn(self._release_after(token, renew))
        released = await asyncio.shield(task)
        if lost is not None:  # already reported lost: the section was not (certainly) protected
            raise lost
        if not released:
            raise LockLostError(f"lock {self._name!r} was no longer owned at release (expired or taken over)")

    async def _release_after(self, token: str, renew: asyncio.Task[None] | None) -> bool:
        if renew is not None:
            await asyncio.wait([renew])
        return await self._release_token(token)

    async def _release_token(self, token: str) -> bool:
        client = self._client
        result = await client.link.run(_RELEASE.run, client.redis, (self._key,), (token,))
        return bool(result)

    async def _release_quietly(self) -> None:
        """Release, logging instead of raising when the lock was lost or Redis is down."""
        try:
            await self.release()
        except (LockNotOwnedError, CacheError) as exc:
            _log.warning("releasing lock %r failed: %s", self._name, exc)

    # ------------------------------------------------------------------ context manager

    async def __aenter__(self) -> Lock:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is None:
            return  # released explicitly inside the block
        if exc is None:
            await self.release()  # LockLostError here: the section was not protected
            return
        # The body failed (or was cancelled): release, but never mask its exception.
        await self._release_quietly()

    def __repr__(self) -> str:
        state = "held" if self.held else "lost" if self.lost else "free"
        return f"Lock(name={self._name!r}, key={self._key!r}, ttl={self._ttl}, {state})"
