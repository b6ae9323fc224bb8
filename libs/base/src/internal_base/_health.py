"""Health checks: a registry libraries register into, aggregated into liveness and readiness reports.

A check is any callable returning an awaitable (or a plain value). It passes when it returns
without raising; returning ``False`` means unhealthy, a ``HealthStatus`` is taken as is, and a
mapping is kept as ``details``. Checks run concurrently, each under its own timeout; a check
that raises or hangs becomes an unhealthy result with its (redacted) reason, and the aggregate
never raises. Reports are cached for ``cache_ttl`` seconds and concurrent callers share one run.

Coroutine functions run on the event loop. Any other callable runs in a daemon worker thread
(in a copy of the caller's context), so a check that blocks cannot stall the loop and is
reported unhealthy at its timeout; while it is still blocked, later runs wait for that same
call instead of starting another thread. A check that raises ``CancelledError`` or
``SystemExit`` itself (a synchronous one also ``KeyboardInterrupt``, which no signal delivers to
its thread), or an exception that cannot be printed, is an unhealthy result like any other failure.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import inspect
import math
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final
from weakref import WeakKeyDictionary

from pydantic import BaseModel, ConfigDict, Field

from internal_base._redaction import MASK, redact, redact_text

CheckFn = Callable[[], Awaitable[object] | object]


class HealthStatus(StrEnum):
    """Outcome of a check or of an aggregate."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


class CheckResult(BaseModel):
    """The result of one check."""

    model_config = ConfigDict(frozen=True)

    name: str
    status: HealthStatus
    critical: bool = True
    duration_ms: float = 0.0
    error: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class HealthReport(BaseModel):
    """The aggregate of several checks."""

    model_config = ConfigDict(frozen=True)

    status: HealthStatus
    checks: list[CheckResult] = Field(default_factory=list)
    checked_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @property
    def http_status(self) -> int:
        """200 when healthy or degraded, 503 when unhealthy."""
        return 503 if self.status == HealthStatus.UNHEALTHY else 200

    def check(self, name: str) -> CheckResult:
        """Return the result of the check called ``name``.

        Raises:
            KeyError: No such check in this report.
        """
        for result in self.checks:
            if result.name == name:
                return result
        raise KeyError(name)


def aggregate(results: list[CheckResult]) -> HealthStatus:
    """Unhealthy if a critical check is unhealthy; degraded if any other check is not healthy."""
    status = HealthStatus.HEALTHY
    for result in results:
        if result.status == HealthStatus.UNHEALTHY and result.critical:
            return HealthStatus.UNHEALTHY
        if result.status != HealthStatus.HEALTHY:
            status = HealthStatus.DEGRADED
    return status


@dataclass(frozen=True, slots=True)
class _Check:
    name: str
    fn: CheckFn
    critical: bool
    timeout: float
    liveness: bool


_MAX_ERROR: Final = 500
_MAX_DETAILS_DEPTH: Final = 20
_GRACE: Final = 1.0  # seconds a timed-out check gets to finish its cancellation
# Sync checks still running in their thread, so a hung one is awaited again, never re-started.
_RUNNING: WeakKeyDictionary[Callable[..., object], concurrent.futures.Future[object]] = WeakKeyDictionary()
_RUNNING_LOCK: Final = threading.Lock()
# Async checks still running after their timeout cancelled them (they swallowed the cancellation).
_STUCK: WeakKeyDictionary[Callable[..., object], asyncio.Future[object]] = WeakKeyDictionary()


class _Aborted(Exception):
    """A check raised SystemExit/KeyboardInterrupt itself: a failed check, not the end of the process."""


def _aborted(exc: BaseException) -> BaseException:
    """``exc`` as something asyncio hands back as a result (it re-raises SystemExit out of the loop)."""
    if isinstance(exc, SystemExit | KeyboardInterrupt):
        aborted = _Aborted()
        aborted.__cause__ = exc
        return aborted
    return exc


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # an exception whose __str__ fails must not fail the report
        return "<unprintable>"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _Aborted) and exc.__cause__ is not None:
        exc = exc.__cause__
    text = _text(exc)
    described = redact_text(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
    return described if len(described) <= _MAX_ERROR else described[: _MAX_ERROR - 3] + "..."


def _interpret(value: object) -> tuple[HealthStatus, str | None, dict[str, Any]]:
    if value is False:
        return HealthStatus.UNHEALTHY, "check returned False", {}
    if inspect.isgenerator(value) or inspect.isasyncgen(value):
        return HealthStatus.UNHEALTHY, "check returned a generator, not a result", {}
    if isinstance(value, HealthStatus):
        return value, None, {}
    if isinstance(value, Mapping):
        details = _json_safe(redact({str(key): item for key, item in value.items()}), 0)
        return HealthStatus.HEALTHY, None, details if isinstance(details, dict) else {}
    return HealthStatus.HEALTHY, None, {}


def _json_safe(value: object, depth: int) -> object:
    """Details reduced to JSON types, so a report always serialises; other objects become text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if depth >= _MAX_DETAILS_DEPTH:
        return MASK  # fail closed: deeper than redaction looks
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(item, depth + 1) for item in value]
    try:
        text = str(value)
    except Exception:  # a details value that cannot be printed must not fail the report
        return f"<unprintable {type(value).__name__}>"
    return redact_text(text)


def _is_async(fn: CheckFn) -> bool:
    # A callable object with ``async def __call__`` counts as a coroutine function too.
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)


def _in_thread(fn: Callable[[], object]) -> concurrent.futures.Future[object]:
    """Start ``fn`` in a daemon thread (or join the call still running) and return its future."""
    with _RUNNING_LOCK:
        try:
            running = _RUNNING.get(fn)
        except TypeError:  # not weak-referenceable: no sharing
            running = None
        if running is not None and not running.done():
            return running
        future: concurrent.futures.Future[object] = concurrent.futures.Future()
        future.set_running_or_notify_cancel()  # a timed-out waiter can no longer cancel it
        with contextlib.suppress(TypeError):
            _RUNNING[fn] = future
    context = contextvars.copy_context()

    def target() -> None:
        try:
            result = context.run(fn)
        except BaseException as exc:  # handed over to the waiting coroutine
            # No signal reaches this thread: a SystemExit here came from the check's own code.
            future.set_exception(_aborted(exc))
        else:
            future.set_result(result)

    # A daemon thread, not an executor: a check that never returns must not block interpreter exit.
    threading.Thread(target=target, name="health-check", daemon=True).start()
    return future


async def _call(fn: CheckFn) -> object:
    try:
        if _is_async(fn):
            value = fn()
        else:
            value = await asyncio.wrap_future(_in_thread(fn))
        if inspect.isawaitable(value):
            value = await value
    except SystemExit as exc:  # sys.exit() in a check must not stop the server
        raise _aborted(exc) from exc
    return value


def _start(fn: CheckFn) -> tuple[asyncio.Future[object], bool]:
    """The check's own task (owned), or the one still running since an earlier timeout."""
    with contextlib.suppress(TypeError):  # not weak-referenceable: no sharing
        stuck = _STUCK.get(fn)
        if stuck is not None and not stuck.done() and stuck.get_loop() is asyncio.get_running_loop():
            return stuck, False
    return asyncio.ensure_future(_call(fn)), True


def _abandon(fn: CheckFn, task: asyncio.Future[object]) -> None:
    """Keep a check that outlived its cancellation, so the next run waits for it again."""
    task.add_done_callback(lambda done: done.cancelled() or done.exception())  # no "never retrieved"
    with contextlib.suppress(TypeError):
        _STUCK[fn] = task


async def _outcome(fn: CheckFn, seconds: float) -> asyncio.Future[object] | None:
    """Run the check in its own task for at most ``seconds``; None when it timed out.

    The check runs in a task of its own, so a check that swallows its cancellation cannot hold
    up the report: it is cancelled, given a short grace, then left to finish on its own.
    """
    task, owned = _start(fn)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
        if done:
            return task
        if owned:
            task.cancel()
            await asyncio.wait({task}, timeout=min(seconds, _GRACE))
        if not task.done():
            _abandon(fn, task)
        return None
    except asyncio.CancelledError:
        if owned:
            task.cancel()  # the caller is cancelled: so is its check
        raise


async def run_check(name: str, fn: CheckFn, *, critical: bool = True, timeout: float = 2.0) -> CheckResult:
    """Run one check under ``timeout``; never raises (except cancellation of the caller).

    Coroutine functions run on the loop; other callables in a worker thread (see the module
    docstring), so a blocking check is reported unhealthy at its timeout.

    Raises:
        ValueError: ``timeout`` is not a finite number > 0.
    """
    seconds = _positive("timeout", timeout)
    started = time.perf_counter()
    status = HealthStatus.UNHEALTHY
    details: dict[str, Any] = {}
    outcome = await _outcome(fn, seconds)
    if outcome is None:
        error: str | None = f"timed out after {seconds:g}s"
    elif outcome.cancelled():  # the check raised CancelledError itself: we never cancelled it
        error = "CancelledError"
    elif (exc := outcome.exception()) is not None:
        error = _describe(exc)  # a TimeoutError of the check's own keeps its message
    else:
        try:
            status, error, details = _interpret(outcome.result())
        except Exception as unusable:
            error = f"check returned an unusable value: {_describe(unusable)}"
    return CheckResult(
        name=name,
        status=status,
        critical=critical,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        error=error,
        details=details,
    )


def _positive(name: str, value: object, *, zero: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not zero):  # type: ignore[operator]
        expected = "a finite number >= 0" if zero else "a finite number > 0"
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return float(value)  # type: ignore[arg-type]


class HealthRegistry:
    """Named checks split into liveness and readiness views.

    A report is cached only if no check was registered or removed while it ran, and a caller
    arriving after such a change never joins the run that started before it.

    Args:
        cache_ttl: Seconds a report is reused (0 disables caching).

    Raises:
        ValueError: ``cache_ttl`` is negative, NaN, infinite or not a number.
    """

    def __init__(self, *, cache_ttl: float = 1.0) -> None:
        self.cache_ttl = _positive("cache_ttl", cache_ttl, zero=True)
        self._checks: dict[str, _Check] = {}
        self._cache: dict[bool, tuple[float, HealthReport]] = {}
        self._inflight: dict[bool, tuple[int, asyncio.Task[HealthReport]]] = {}
        self._generation = 0  # bumped by every register/unregister

    def register(
        self,
        name: str,
        check: CheckFn,
        *,
        critical: bool = True,
        timeout: float = 2.0,
        liveness: bool = False,
    ) -> None:
        """Add (or replace) the check called ``name``.

        Args:
            name: Unique check name, e.g. ``"redis"``.
            check: Callable returning an awaitable (or a value); see the module docstring.
            critical: An unhealthy critical check makes the aggregate unhealthy; others degrade it.
            timeout: Seconds before the check counts as hung (unhealthy).
            liveness: Also part of the liveness view (readiness always runs every check).

        Raises:
            ValueError: An empty or non-string name, or a timeout that is not a finite number > 0.
            TypeError: ``check`` is not callable, or is a generator function.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"check name must be a non-empty string, got {name!r}")
        if not callable(check):
            raise TypeError(f"check {name!r} must be callable, got {type(check).__name__}")
        if inspect.isgeneratorfunction(check) or inspect.isasyncgenfunction(check):
            raise TypeError(f"check {name!r} is a generator function; a check returns (or raises) once")
        seconds = _positive("timeout", timeout)
        self._checks[name] = _Check(name, check, critical, seconds, liveness)
        self._changed()

    def _changed(self) -> None:
        self._generation += 1
        self._cache.clear()

    def unregister(self, name: str, check: CheckFn | None = None) -> None:
        """Remove the check called ``name`` (no error if absent).

        Args:
            name: The check name.
            check: Remove it only if it is still this callable. A client closing down passes its own
                check, so that it never removes a check another client has since registered under
                the same name.
        """
        registered = self._checks.get(name)
        if registered is None or (check is not None and registered.fn != check):
            return
        del self._checks[name]
        self._changed()

    @property
    def names(self) -> list[str]:
        """Registered check names, sorted."""
        return sorted(self._checks)

    async def readiness(self) -> HealthReport:
        """Run every registered check and aggregate them."""
        return await self._report(liveness=False)

    async def liveness(self) -> HealthReport:
        """Run only the checks registered with ``liveness=True`` (healthy when there are none)."""
        return await self._report(liveness=True)

    async def _report(self, *, liveness: bool) -> HealthReport:
        cached = self._cache.get(liveness)
        if cached is not None and time.monotonic() - cached[0] < self.cache_ttl:
            return cached[1]
        loop = asyncio.get_running_loop()
        generation = self._generation
        inflight = self._inflight.get(liveness)
        if inflight is not None and inflight[0] == generation and inflight[1].get_loop() is loop:
            task = inflight[1]
        else:
            # One run shared by concurrent callers; a cancelled caller does not cancel it.
            task = loop.create_task(self._run(liveness=liveness))
            self._inflight[liveness] = (generation, task)
            task.add_done_callback(functools.partial(self._finished, liveness, generation))
        return await asyncio.shield(task)

    def _finished(self, liveness: bool, generation: int, task: asyncio.Task[HealthReport]) -> None:
        inflight = self._inflight.get(liveness)
        if inflight is not None and inflight[1] is task:
            del self._inflight[liveness]
        # A run that overlapped a register/unregister describes a stale set of checks: not cached.
        if generation == self._generation and not task.cancelled() and task.exception() is None:
            self._cache[liveness] = (time.monotonic(), task.result())

    async def _run(self, *, liveness: bool) -> HealthReport:
        # list() copies in one step: a register() from another thread cannot change the dict mid-scan.
        checks = [check for check in list(self._checks.values()) if check.liveness or not liveness]
        results = await asyncio.gather(
            *(run_check(c.name, c.fn, critical=c.critical, timeout=c.timeout) for c in checks)
        )
        ordered = sorted(results, key=lambda result: result.name)
        return HealthReport(status=aggregate(ordered), checks=ordered)


_DEFAULT: Final[list[HealthRegistry]] = []


def default_registry() -> HealthRegistry:
    """Return the process-wide registry (created on first use)."""
    if not _DEFAULT:
        _DEFAULT.append(HealthRegistry())
    return _DEFAULT[0]
