"""An asyncio-safe circuit breaker.

Why not pybreaker: its ``CircuitBreaker.call`` is synchronous, its async support relied on
Tornado coroutines, its half-open state lets every concurrent caller through (not one probe)
and its state storage locks with ``threading.RLock`` around the *call itself*, which would
block the event loop. The state machine below keeps pybreaker's vocabulary (closed, open,
half-open, listeners, excluded exceptions) but never holds a lock across an ``await``:
admission and settlement are short critical sections, so state changes stay correct under
any number of concurrent tasks (and threads), and half-open admits exactly ``half_open_probes``
probes (one by default): the first successful probe closes the circuit, a failed one reopens it.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Literal, ParamSpec, TypeVar

from internal_base._errors import CircuitOpenError, ConfigurationError
from internal_base._health import HealthStatus
from internal_base._telemetry import counter

BreakerState = Literal["closed", "open", "half_open"]
Listener = Callable[[str, BreakerState, BreakerState], None]

CLOSED: Final = "closed"
OPEN: Final = "open"
HALF_OPEN: Final = "half_open"

_P = ParamSpec("_P")
_T = TypeVar("_T")
_log = logging.getLogger("internal_base.resilience")


@dataclass(slots=True)
class _Ticket:
    probe: bool
    settled: bool = False


@dataclass(slots=True)
class _Frame:
    ticket: _Ticket
    parent: _Frame | None


class CircuitBreaker:
    """Stop calling a failing dependency for ``reset_timeout`` seconds after ``failure_threshold`` failures.

    Use ``async with breaker:`` or ``await breaker.call(fn, *args)``. Inside either, a caller that
    decides failure itself (e.g. an HTTP 503) calls ``record_failure()``/``record_success()``; that
    settles the call and the block's own outcome is then ignored. While open, calls fail fast with
    ``CircuitOpenError`` whose ``retry_after`` is the time left until the half-open probe.

    Args:
        name: Name used in errors, logs, metrics and health checks.
        failure_threshold: Consecutive failures that open the circuit.
        reset_timeout: Seconds the circuit stays open before admitting a probe call (default 5:
            a restarted dependency is used again within seconds).
        half_open_probes: Calls admitted at the same time while half-open; the first success
            closes the circuit, any failure reopens it.
        failure_on: Exception types that count as failures (default: every ``Exception``);
            any other exception counts as a success (the dependency answered).
        excluded: Exception types that never count as failures (e.g. a 404 error), even when
            they are ``failure_on`` types.
        clock: Monotonic clock (injectable for tests).

    Raises:
        ConfigurationError: A value is out of range.
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 5.0,
        half_open_probes: int = 1,
        failure_on: tuple[type[BaseException], ...] = (Exception,),
        excluded: tuple[type[BaseException], ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ConfigurationError(f"failure_threshold must be >= 1, got {failure_threshold}")
        if reset_timeout < 0:
            raise ConfigurationError(f"reset_timeout must be >= 0, got {reset_timeout}")
        if half_open_probes < 1:
            raise ConfigurationError(f"half_open_probes must be >= 1, got {half_open_probes}")
        for label, types in (("failure_on", failure_on), ("excluded", excluded)):
            bad = [t for t in types if not (isinstance(t, type) and issubclass(t, BaseException))]
            if bad:
                raise ConfigurationError(f"{label} must hold exception types, got {bad!r}")
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.half_open_probes = half_open_probes
        self.failure_on = failure_on
        self.excluded = excluded
        self._clock = clock
        self._lock = threading.Lock()
        self._state: BreakerState = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probes_in_flight = 0
        self._listeners: list[Listener] = []
        self._active: contextvars.ContextVar[_Frame | None] = contextvars.ContextVar(
            f"commons_breaker_{name}", default=None
        )

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self.name!r}, state={self.state!r}, failures={self._failures})"

    @property
    def state(self) -> BreakerState:
        """The current state; an open circuit whose timeout passed reports ``half_open``."""
        with self._lock:
            changes = self._refresh()
        self._notify(changes)
        return self._state

    @property
    def failure_count(self) -> int:
        """Consecutive failures counted while closed."""
        return self._failures

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(name, old_state, new_state)`` on every state change."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        self._listeners.remove(listener)

    def reset(self) -> None:
        """Force the circuit closed and clear the failure count."""
        with self._lock:
            changes = self._transition(CLOSED)
        self._notify(changes)

    # -- state machine (call with the lock held; return the transitions to notify) ----------
    def _transition(self, new: BreakerState) -> list[tuple[BreakerState, BreakerState]]:
        old = self._state
        self._state = new
        self._failures = 0
        if new == OPEN:
            self._opened_at = self._clock()
        if new != HALF_OPEN:
            self._probes_in_flight = 0
        return [] if old == new else [(old, new)]

    def _refresh(self) -> list[tuple[BreakerState, BreakerState]]:
        if self._state == OPEN and self._clock() - self._opened_at >= self.reset_timeout:
            return self._transition(HALF_OPEN)
        return []

    def _notify(self, changes: list[tuple[BreakerState, BreakerState]]) -> None:
        for old, new in changes:
            # One line an operator needs per outage: going down (closed -> open) and coming back
            # (-> closed). The probe cycle in between (open <-> half_open) repeats every reset
            # period while the dependency stays down, so it is logged at DEBUG and counted.
            level = logging.DEBUG if {old, new} == {OPEN, HALF_OPEN} else logging.WARNING
            _log.log(level, "circuit %s: %s -> %s", self.name, old, new)
            counter("commons.breaker.transitions", description="Circuit breaker state changes").add(
                1, {"breaker": self.name, "state": new}
            )
            for listener in list(self._listeners):
                try:
                    listener(self.name, old, new)
                except Exception:
                    _log.exception("circuit %s: listener %r failed", self.name, listener)

    def _admit(self) -> _Ticket:
        with self._lock:
            changes = self._refresh()
            state = self._state
            if state == CLOSED:
                ticket: _Ticket | None = _Ticket(probe=False)
            elif state == HALF_OPEN and self._probes_in_flight < self.half_open_probes:
                self._probes_in_flight += 1
                ticket = _Ticket(probe=True)
            else:
                ticket = None
                retry_after = self._retry_after() if state == OPEN else 0.0
        self._notify(changes)
        if ticket is None:
            raise CircuitOpenError(self.name, retry_after)
        return ticket

    def _settle(self, ticket: _Ticket, *, failure: bool | None) -> None:
        """Record the outcome of an admitted call; ``failure=None`` releases it without outcome."""
        if ticket.settled:
            return
        ticket.settled = True
        changes: list[tuple[BreakerState, BreakerState]] = []
        with self._lock:
            if ticket.probe:
                if failure is None:
                    self._probes_in_flight = max(0, self._probes_in_flight - 1)
                elif self._state == HALF_OPEN:
                    changes = self._transition(OPEN if failure else CLOSED)
            elif self._state == CLOSED and failure is not None:
                if not failure:
                    self._failures = 0
                else:
                    self._failures += 1
                    if self._failures >= self.failure_threshold:
                        changes = self._transition(OPEN)
        self._notify(changes)

    def _retry_after(self) -> float:
        return max(0.0, self._opened_at + self.reset_timeout - self._clock())

    def _is_failure(self, exc: BaseException) -> bool | None:
        if not isinstance(exc, Exception):
            return None  # cancellation, KeyboardInterrupt: no verdict on the dependency
        return isinstance(exc, self.failure_on) and not isinstance(exc, self.excluded)

    # -- public recording ------------------------------------------------------------------
    def _record(self, *, failure: bool) -> None:
        frame = self._active.get()
        if frame is not None and not frame.ticket.settled:
            self._settle(frame.ticket, failure=failure)
            return
        with self._lock:
            changes = self._refresh()
            probe = self._state == HALF_OPEN
        self._notify(changes)
        self._settle(_Ticket(probe=probe), failure=failure)

    def record_success(self) -> None:
        """Record a success (settles the enclosing ``async with``/``call`` if there is one)."""
        self._record(failure=False)

    def record_failure(self) -> None:
        """Record a failure (settles the enclosing ``async with``/``call`` if there is one)."""
        self._record(failure=True)

    def release(self) -> None:
        """Settle the enclosing ``async with`` without an outcome.

        For a call that says nothing about the dependency (a local error: a full pool, a request
        that could not be encoded). Neither a success nor a failure is counted, and a half-open
        probe slot is freed for the next call. Outside an ``async with`` this does nothing.
        """
        frame = self._active.get()
        if frame is not None:
            self._settle(frame.ticket, failure=None)

    # -- call styles -----------------------------------------------------------------------
    async def __aenter__(self) -> CircuitBreaker:
        ticket = self._admit()
        self._active.set(_Frame(ticket, self._active.get()))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        frame = self._active.get()
        if frame is None:  # pragma: no cover - only if entered in another context
            return
        self._active.set(frame.parent)
        self._settle(frame.ticket, failure=False if exc is None else self._is_failure(exc))

    async def call(self, fn: Callable[_P, Awaitable[_T]], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Await ``fn(*args, **kwargs)`` through the breaker.

        Raises:
            CircuitOpenError: The circuit is open (or half-open with its probe in flight).
        """
        async with self:
            return await fn(*args, **kwargs)

    async def health_check(self) -> HealthStatus:
        """Health check for a ``HealthRegistry``: closed is healthy, half-open degraded, open raises."""
        state = self.state
        if state == OPEN:
            raise CircuitOpenError(self.name, self._retry_after())
        return HealthStatus.HEALTHY if state == CLOSED else HealthStatus.DEGRADED
