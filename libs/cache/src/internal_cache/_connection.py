"""The I/O boundary: reconnection window, circuit breaker, pool waits, error translation.

Callers (the client, pipelines, locks) await redis-py directly on their fast path and
hand a failure to :meth:`RedisLink.recover`; nothing here runs while Redis answers.

* **One policy**: the client's ``ResiliencePolicy`` (built from ``CacheSettings.resilience``)
  supplies the retry schedule and the breaker; the loop that applies them lives here because
  a cache call is retried only under the replay rules below and must stay free on the fast path.
* **Reconnection window**: a connection error starts retries with full-jitter backoff
  that stop when the window (a duration, ``retry.total_timeout``) is used up;
  ``retry.attempts`` is only a cap. The error raised afterwards says how
  many attempts were made over how long.
* **At most once where it matters**: a command that is not idempotent (``INCRBY``, a
  raw :meth:`CacheClient.call`) is retried only when the failure happened while getting
  a connection, i.e. before anything was sent; otherwise the caller is told it may have
  run.
* **Breaker**: every logical call that needed recovery holds one ticket of an
  ``internal_base`` :class:`CircuitBreaker`, however many attempts it made. A used-up
  window opens the circuit; calls still reconnecting then give up too, so no call waits
  longer than one window after an outage began. While it is open calls fail at once
  without touching the network (``CacheUnavailableError.retry_after`` says when the probe is
  due), and after ``reset_timeout`` one call probes the server.
* **Quiet outages**: one WARNING when Redis stops answering, one when it answers again;
  everything in between is counted in :class:`LinkStats`.
* **Cancellation**: redis-py on Python 3.11 awaits ``asyncio.wait_for``, which drops a
  cancellation that arrives as a write completes; every loop here checks
  ``Task.cancelling()`` after each attempt so a cancelled caller stops.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ClusterCrossSlotError,
    ClusterDownError,
    MaxConnectionsError,
    RedisClusterException,
    RedisError,
    TryAgainError,
)

from internal_base.errors import CircuitOpenError
from internal_base.logging import get_logger
from internal_base.redaction import redact_text
from internal_base.resilience import Backoff, CircuitBreaker, ResiliencePolicy, RetryPolicy, sleep
from internal_cache._cluster import NotSentError, translate
from internal_cache._errors import CacheError, CacheUnavailableError
from internal_cache._sentinel import UnknownMasterError

__all__ = [
    "COMMAND_ERRORS",
    "AnyRedis",
    "CONNECTION_ERRORS",
    "LinkStats",
    "RedisLink",
    "Replay",
    "cancel_requested",
    "maybe_sent",
]

#: Errors that mean "the server is unreachable, the connection broke, or a Redis Cluster is
#: failing over" (``CLUSTERDOWN``, ``TRYAGAIN``); only these are retried. ``OSError`` covers the
#: builtin ``ConnectionError``/``TimeoutError`` -- and so this library's own
#: ``CacheUnavailableError``, which every handler below lets through first.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
    ClusterDownError,
    TryAgainError,
)
#: A redis-py client of one server (or of a Sentinel-managed master), or of a Redis Cluster.
AnyRedis = aioredis.Redis | RedisCluster
#: Errors of a command the server (or redis-py's cluster routing) refused: translated, not retried.
COMMAND_ERRORS: tuple[type[BaseException], ...] = (RedisError, RedisClusterException)

_log = get_logger("internal_cache")

T = TypeVar("T")

#: When a call may be sent again after a connection error: ``"always"`` (idempotent),
#: ``"unsent"`` (one redis-py command: only if it certainly was not sent), ``"never"``
#: (an opaque callable that may have run some commands already).
Replay = Literal["always", "unsent", "never"]

_CONN: Final = CONNECTION_ERRORS
# Waits for a free pooled connection: local and short, so no jitter and a low cap.
_POOL_WAIT: Final = Backoff(initial=0.001, maximum=0.05, jitter=False)
_FATAL: Final = (AuthenticationError, AuthorizationError)
# redis-py frames that only obtain a connection (connect, AUTH/HELLO, health check):
# an error raised below one of them was raised before the command was written.
_BEFORE_SEND: Final = frozenset({"get_connection", "ensure_connection", "connect", "connect_check_health"})
# Refused before running: the cluster was failing over or could not route the command.
_NOT_RUN: Final = (NotSentError, ClusterDownError, TryAgainError)


def maybe_sent(exc: BaseException) -> bool:
    """False only when ``exc`` certainly happened before the command reached the socket.

    Judged from the traceback: an error raised while the pool was handing out a
    connection (connect, handshake) left the command unsent. Anything else, or a
    redis-py version whose frames are named differently, counts as "may have run".
    """
    if isinstance(exc, _NOT_RUN):  # CLUSTERDOWN/TRYAGAIN replies, unroutable cluster commands
        return False
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name in _BEFORE_SEND:
            return False
        tb = tb.tb_next
    return not isinstance(exc, MaxConnectionsError)


def replayable(exc: BaseException, replay: Replay) -> bool:
    """Whether a call that failed with ``exc`` may be sent again under ``replay``."""
    if replay == "always":
        return True
    return replay == "unsent" and not maybe_sent(exc)


def cancel_requested(task: asyncio.Task[Any] | None, baseline: int) -> bool:
    """Whether ``task`` received a cancellation since ``baseline`` that nobody raised."""
    return task is not None and task.cancelling() > baseline


@dataclass(slots=True)
class LinkStats:
    """Counters of the link (shared by every client view on the same pool).

    Attributes:
        outages: Times Redis was found unreachable after answering (one WARNING each).
        recoveries: Times it answered again after an outage (one WARNING each).
        retries: Attempts made after a first connection error, summed over calls.
        failures: Logical calls that used up their reconnection window.
        rejected: Calls failed at once because the circuit was open.
        not_retried: Non-idempotent calls whose connection broke after sending.
    """

    outages: int = 0
    recoveries: int = 0
    retries: int = 0
    failures: int = 0
    rejected: int = 0
    not_retried: int = 0


class RedisLink:
    """Recovery for one redis-py client: window, breaker, pool waits and logging.

    Args:
        redis: The redis-py asyncio client.
        url: Password-free description of the server for errors and logs.
        policy: Its ``retry`` gives the backoff, the window (``total_timeout``) and the attempt
            cap (``None``: no reconnection); its ``breaker`` guards recovery (``None``: none).
        pool_timeout: Seconds to wait for a free pooled connection.
    """

    __slots__ = (
        "_breaker",
        "_down_since",
        "_pending",
        "_policy",
        "_pool_timeout",
        "_r",
        "_retry",
        "closed",
        "down",
        "stats",
        "url",
    )

    def __init__(
        self,
        redis: AnyRedis,
        *,
        url: str,
        policy: ResiliencePolicy,
        pool_timeout: float = 5.0,
    ) -> None:
        self._r = redis
        self.url = url
        self._policy = policy
        self._retry = policy.retry if policy.retry is not None else RetryPolicy(attempts=1, wait=None)
        self._breaker = policy.breaker
        if self._breaker is not None:
            self._breaker.add_listener(self._on_breaker)
        self._pool_timeout = pool_timeout
        self._pending: set[asyncio.Task[Any]] = set()
        self._down_since: float | None = None
        #: True while the circuit is open or half-open, or once closed: calls go through
        #: :meth:`guarded` (so the hot path tests one flag for both).
        self.down = False
        #: Set by :meth:`close`: every later call raises instead of reopening the pool.
        self.closed = False
        self.stats = LinkStats()

    @property
    def policy(self) -> ResiliencePolicy:
        """The resilience policy: retry schedule and window, breaker, per-attempt timeout."""
        return self._policy

    @property
    def retry(self) -> RetryPolicy:
        """The reconnection policy (one attempt when the policy has no retry)."""
        return self._retry

    @property
    def breaker(self) -> CircuitBreaker | None:
        """The circuit breaker guarding recovery (``None`` when turned off)."""
        return self._breaker

    @property
    def window(self) -> float:
        """Seconds a logical call keeps reconnecting (``inf`` when unbounded)."""
        total = self._retry.total_timeout
        return math.inf if total is None else total

    # ------------------------------------------------------------------ errors

    def unavailable(self, exc: BaseException, what: str) -> CacheUnavailableError:
        """A :class:`CacheUnavailableError` naming the server (never its password)."""
        detail = redact_text(str(exc)) or type(exc).__name__
        return CacheUnavailableError(f"Redis at {self.url} {what}: {detail}")

    def circuit_open(self, exc: CircuitOpenError) -> CacheUnavailableError:
        """The error of a call the open circuit rejected; ``retry_after`` is when it probes."""
        self.stats.rejected += 1
        return CacheUnavailableError(
            f"Redis at {self.url} is unreachable (circuit open; next probe in "
            f"{exc.retry_after:.1f}s): failing fast",
            retry_after=exc.retry_after,
        )

    def error(self, exc: BaseException) -> CacheError:
        """A :class:`CacheError` for a command the server (or cluster routing) refused."""
        if isinstance(exc, RedisClusterException | ClusterCrossSlotError):
            translated = translate(exc)
            if isinstance(translated, CacheError):
                return translated
            if isinstance(translated, NotSentError):
                return self.unavailable(translated, "could not route the command")
            exc = translated
        detail = redact_text(str(exc)) or type(exc).__name__
        return CacheError(f"Redis command failed ({type(exc).__name__}): {detail}")

    # ------------------------------------------------------------------ state and logging

    def close(self) -> None:
        """Refuse every later call with a :class:`CacheError` (the client was closed)."""
        self.closed = True
        self.down = True

    def _on_breaker(self, name: str, old: str, new: str) -> None:
        if self.closed:
            return
        if new == "closed":
            self.down = False
            self._back()
        else:
            self.down = True

    def _went_down(self, exc: BaseException) -> None:
        if self._down_since is not None:
            return
        self._down_since = time.monotonic()
        self.stats.outages += 1
        _log.warning(
            "redis at %s stopped answering (%s); reconnecting for up to %gs per call, "
            "failures are counted in stats until it answers again",
            self.url,
            type(exc).__name__,
            self.window,
        )

    def _back(self) -> None:
        since, self._down_since = self._down_since, None
        if since is None:
            return
        self.stats.recoveries += 1
        _log.warning("redis at %s answers again after %.1fs", self.url, time.monotonic() - since)

    # ------------------------------------------------------------------ entry points

    async def run(
        self, fn: Callable[..., Awaitable[T]], /, *args: Any, replay: Replay = "always", **kwargs: Any
    ) -> T:
        """``await fn(*args, **kwargs)`` with recovery (errors translated)."""
        if self.down:
            return await self.guarded(fn, args, kwargs, replay=replay)
        try:
            return await fn(*args, **kwargs)
        except CacheError:
            raise  # a CacheUnavailableError is an OSError: not a connection error of this call
        except _CONN as exc:
            result: T = await self.recover(exc, fn, args, kwargs, replay=replay)
            return result
        except COMMAND_ERRORS as exc:
            raise self.error(exc) from exc

    async def guarded(
        self,
        fn: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        replay: Replay = "always",
    ) -> T:
        """The circuit is not closed: fail at once, or be the one probe call."""
        if self.closed:
            raise CacheError(f"the cache client for {self.url} is closed (aclose() was called)")
        breaker = self._breaker
        if breaker is None:  # pragma: no cover - down is only set by a breaker
            return await fn(*args, **kwargs)
        try:
            async with breaker:
                try:
                    return await fn(*args, **kwargs)
                except CacheError:
                    raise
                except _CONN as exc:
                    self._raise_fatal(exc)
                    if not replayable(exc, replay):
                        raise self._ambiguous(exc) from exc
                    raise self.unavailable(exc, "is still unreachable") from exc
                except COMMAND_ERRORS as exc:
                    breaker.record_success()
                    raise self.error(exc) from exc
        except CircuitOpenError as exc:
            raise self.circuit_open(exc) from exc

    async def recover(
        self,
        exc: BaseException,
        fn: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        replay: Replay = "always",
        until: float | None = None,
    ) -> T:
        """Slow path after ``fn`` raised the connection error ``exc``.

        Args:
            exc: The error of the first attempt.
            fn: The call to retry.
            args: Its positional arguments.
            kwargs: Its keyword arguments.
            replay: Whether ``fn`` may be sent again (see :data:`Replay`).
            until: A ``time.monotonic()`` deadline that shortens the window.
        """
        self._raise_fatal(exc)
        if not replayable(exc, replay):
            raise self._ambiguous(exc) from exc
        if isinstance(exc, MaxConnectionsError):
            return await self._wait_for_pool(exc, fn, args, kwargs, replay, until)
        self._went_down(exc)
        breaker = self._breaker
        if breaker is None:
            return await self._within_window(exc, fn, args, kwargs, replay, until)
        try:
            async with breaker:
                return await self._within_window(exc, fn, args, kwargs, replay, until)
        except CircuitOpenError as open_exc:
            raise self.circuit_open(open_exc) from exc
        except CacheUnavailableError as failed:
            if failed.retry_after is None and breaker.state == "open":
                failed.retry_after = breaker.reset_timeout  # this call's failure opened the circuit
            raise

    def spawn(self, coro: Awaitable[T]) -> asyncio.Task[T]:
        """Run ``coro`` as a task kept alive until it ends (see :meth:`drain`)."""
        task: asyncio.Task[T] = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._settled)
        return task

    def _settled(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        # Nobody may await a background release (its caller was cancelled): read its
        # outcome here so asyncio does not report "exception was never retrieved".
        if not task.cancelled() and (exc := task.exception()) is not None:
            _log.debug("background task %s failed: %s", task.get_name(), redact_text(str(exc)))

    @property
    def pending(self) -> set[asyncio.Task[Any]]:
        """Background tasks (compensating lock releases) still running."""
        return self._pending

    async def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the background tasks."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout)

    # ------------------------------------------------------------------ internals

    def _raise_fatal(self, exc: BaseException) -> None:
        if isinstance(exc, _FATAL):  # wrong password / ACL: retrying cannot help
            raise self.unavailable(exc, "refused the credentials") from exc
        if isinstance(exc, UnknownMasterError):  # a wrong master name: retrying cannot help
            raise self.unavailable(exc, "cannot be found") from exc

    def _ambiguous(self, exc: BaseException) -> CacheUnavailableError:
        self.stats.not_retried += 1
        return self.unavailable(
            exc,
            "dropped the connection while a non-idempotent command was in flight "
            "(it may have run; not retried)",
        )

    async def _within_window(
        self,
        first: BaseException,
        fn: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        replay: Replay,
        until: float | None,
    ) -> T:
        policy = self._retry
        task = asyncio.current_task()
        baseline = task.cancelling() if task is not None else 0
        started = time.monotonic()
        deadline = started + self.window
        cut = until is not None and until < deadline  # the caller's deadline ends the window early
        if until is not None:
            deadline = min(deadline, until)
        attempts, waited, last = 1, 0.0, first
        while attempts < policy.attempts:
            # Waits skipped by internal_base's testing() switch still count toward the window.
            elapsed = max(time.monotonic() - started, waited)
            left = deadline - started - elapsed
            if left <= 0:
                break
            pause = min(policy.backoff(attempts), left)
            waited += pause
            await sleep(pause)
            attempts += 1
            self.stats.retries += 1
            try:
                result = await fn(*args, **kwargs)
            except CacheError:
                raise
            except _CONN as exc:
                self._raise_fatal(exc)
                if not replayable(exc, replay):
                    raise self._ambiguous(exc) from exc
                last = exc
                if self.down and self._breaker is not None and self._breaker.state == "open":
                    break  # another call used up its window: Redis is known down, stop waiting
                continue
            except COMMAND_ERRORS as exc:  # the server answered: it is reachable
                if self._breaker is not None:
                    self._breaker.record_success()
                self._back()
                raise self.error(exc) from exc
            finally:
                if cancel_requested(task, baseline):
                    raise asyncio.CancelledError("cancelled while reconnecting to Redis")
            self._back()
            return result
        self.stats.failures += 1
        elapsed = max(time.monotonic() - started, waited)
        window = "" if math.isinf(self.window) else f" of the {self.window:g}s reconnection window"
        if self.down:
            window += " (the circuit opened: Redis is known to be down)"
        elif cut:
            window += " (cut short at the caller's deadline)"
            if self._breaker is not None:
                # Only a call that used up its whole window may open the circuit for everyone.
                self._breaker.release()
        raise self.unavailable(
            last, f"could not be reached: {attempts} attempts over {elapsed:.1f}s{window}"
        ) from last

    async def _wait_for_pool(
        self,
        exc: MaxConnectionsError,
        fn: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        replay: Replay,
        until: float | None,
    ) -> T:
        """Every pooled connection is busy: retry with short backoff for up to pool_timeout.

        Pool exhaustion is local, so it never counts toward the breaker.
        """
        task = asyncio.current_task()
        baseline = task.cancelling() if task is not None else 0
        deadline = time.monotonic() + self._pool_timeout
        waits = _POOL_WAIT.delays()
        while True:
            if time.monotonic() >= deadline:
                raise self.unavailable(
                    exc, f"has no free pooled connection after {self._pool_timeout}s"
                ) from exc
            await sleep(next(waits))
            try:
                return await fn(*args, **kwargs)
            except CacheError:
                raise
            except MaxConnectionsError as again:
                if not replayable(again, replay):
                    raise self._ambiguous(again) from again
                exc = again
            except _CONN as other:
                return await self.recover(other, fn, args, kwargs, replay=replay, until=until)
            except COMMAND_ERRORS as other:
                raise self.error(other) from other
            finally:
                if cancel_requested(task, baseline):
                    raise asyncio.CancelledError("cancelled while waiting for a pooled connection")
