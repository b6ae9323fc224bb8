"""Retries with a ``Backoff`` schedule (exponential, full jitter), on tenacity's ``AsyncRetrying``.

Only the exception types named in ``retry_on`` are retried; anything else, and the last
retryable exception once attempts or the total time budget run out, is re-raised unchanged.
Every wait goes through ``internal_base.resilience.sleep``, so ``testing()`` turns it off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from internal_base._backoff import Backoff
from internal_base._errors import ConfigurationError
from internal_base._redaction import exception_text
from internal_base._telemetry import counter
from internal_base._waiting import sleep

WaitOverride = Callable[[BaseException], float | None]

_P = ParamSpec("_P")
_T = TypeVar("_T")
_log = logging.getLogger("internal_base.resilience")

# Compared by identity: "wait= not given", so initial_wait/max_wait may build the schedule instead.
_DEFAULT_WAIT = Backoff()


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """How to retry an async call: bounded by ``attempts`` and by ``total_timeout``.

    The waits come from ``wait`` (a ``Backoff``); ``initial_wait``/``max_wait`` are the short
    spelling of ``wait=Backoff(initial=..., maximum=...)`` and, after construction, always read
    the schedule's values.

    Args:
        attempts: Maximum number of calls, the first included (1 disables retrying).
        wait: Backoff schedule between attempts (default ``Backoff()``: 0.1 s doubling up to
            5 s, full jitter); None retries at once.
        initial_wait: Instead of ``wait``: cap of the first wait in seconds (0: no waiting).
        max_wait: Instead of ``wait``: upper bound of any wait in seconds.
        total_timeout: Seconds after the first call past which no retry starts (None: no bound).
        retry_on: Exception types that are retried; everything else propagates at once.
        wait_override: ``hook(exc) -> seconds | None``; a number replaces the backoff (``Retry-After``).
        name: Label used in logs and in the ``commons.retry.attempts`` counter.

    Raises:
        ConfigurationError: A value is out of range, or both ``wait`` and ``initial_wait``/``max_wait``.
    """

    attempts: int = 3
    wait: Backoff | None = _DEFAULT_WAIT
    initial_wait: float | None = None
    max_wait: float | None = None
    total_timeout: float | None = 30.0
    retry_on: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)
    wait_override: WaitOverride | None = None
    name: str = "default"

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigurationError(f"attempts must be >= 1, got {self.attempts}")
        if self.total_timeout is not None and self.total_timeout <= 0:
            raise ConfigurationError(f"total_timeout must be positive or None, got {self.total_timeout}")
        bad = [t for t in self.retry_on if not (isinstance(t, type) and issubclass(t, BaseException))]
        if bad:
            raise ConfigurationError(f"retry_on must hold exception types, got {bad!r}")
        if self.initial_wait is not None or self.max_wait is not None:
            if self.wait is _DEFAULT_WAIT:
                object.__setattr__(self, "wait", self._legacy_wait(self.initial_wait, self.max_wait))
            elif not self._agrees(self.wait):  # equal values come from dataclasses.replace
                raise ConfigurationError(
                    "give either wait=Backoff(...) or initial_wait/max_wait, not both "
                    f"(wait={self.wait!r}, initial_wait={self.initial_wait!r}, max_wait={self.max_wait!r})"
                )
        object.__setattr__(self, "initial_wait", 0.0 if self.wait is None else self.wait.initial)
        object.__setattr__(self, "max_wait", 0.0 if self.wait is None else self.wait.maximum)

    def _agrees(self, wait: Backoff | None) -> bool:
        initial, maximum = (0.0, 0.0) if wait is None else (wait.initial, wait.maximum)
        return self.initial_wait in (None, initial) and self.max_wait in (None, maximum)

    @staticmethod
    def _legacy_wait(initial_wait: float | None, max_wait: float | None) -> Backoff | None:
        initial = _DEFAULT_WAIT.initial if initial_wait is None else initial_wait
        maximum = _DEFAULT_WAIT.maximum if max_wait is None else max_wait
        if initial < 0:
            raise ConfigurationError(f"initial_wait must be >= 0, got {initial}")
        if maximum < initial:
            raise ConfigurationError(f"max_wait ({maximum}) must be >= initial_wait ({initial})")
        if initial == 0:
            return None
        return Backoff(initial=initial, maximum=maximum)

    def backoff(self, attempt: int) -> float:
        """The wait after ``attempt`` failed calls: ``wait.delay(attempt)`` (0 without a schedule).

        ``attempt`` values below 1 count as 1.
        """
        if self.wait is None:
            return 0.0
        return self.wait.delay(max(attempt, 1))

    def _wait(self, override: WaitOverride | None) -> Callable[[RetryCallState], float]:
        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome is not None else None
            if override is not None and exc is not None:
                forced = override(exc)
                if forced is not None:
                    return max(0.0, forced)
            return self.backoff(state.attempt_number)

        return wait

    def _stop(self, started: float) -> Callable[[RetryCallState], bool]:
        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= self.attempts:
                return True
            if self.total_timeout is None:
                return False
            # Waits skipped by ``testing()`` still count, so the budget behaves the same in tests.
            elapsed = max(time.monotonic() - started, state.idle_for)
            return elapsed + state.upcoming_sleep > self.total_timeout

        return stop

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        _log.warning(
            "retry %s: attempt %d/%d failed with %s; retrying in %.3fs",
            self.name,
            state.attempt_number,
            self.attempts,
            exception_text(exc),
            state.upcoming_sleep,
            extra={"retry_policy": self.name, "retry_attempt": state.attempt_number},
        )
        counter("commons.retry.attempts", description="Retries performed").add(
            1, {"policy": self.name, "exception": type(exc).__name__}
        )

    async def call(
        self,
        fn: Callable[_P, Awaitable[_T]],
        /,
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> _T:
        """Await ``fn(*args, **kwargs)``, retrying as configured; re-raises the last exception."""
        started = time.monotonic()
        # Fast path: the first attempt runs without tenacity, which is only built after a failure.
        try:
            return await fn(*args, **kwargs)
        except self.retry_on as exc:
            if self.attempts == 1:
                raise
            first: list[BaseException] = [exc]

        async def attempt() -> _T:
            if first:
                raise first.pop()  # replay the failed first attempt as tenacity's attempt 1
            return await fn(*args, **kwargs)

        retrying = AsyncRetrying(
            sleep=sleep,
            stop=self._stop(started),
            wait=self._wait(self.wait_override),
            retry=retry_if_exception_type(self.retry_on),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        return await retrying(attempt)
