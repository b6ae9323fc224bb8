"""Health checks: a registry libraries register into, aggregated into liveness and readiness reports.

A check is any callable returning an awaitable (or a plain value). It passes when it returns
without raising; returning ``False`` means unhealthy, a ``HealthStatus`` is taken as is, and a
mapping is kept as ``details``. Checks run concurrently, each under its own timeout; a check
that raises or hangs becomes an unhealthy result with its (redacted) reason, and the aggregate
never raises. Reports are cached for ``cache_ttl`` seconds and concurrent callers share one run.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from internal_base._redaction import redact, redact_text

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


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return redact_text(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def _interpret(value: object) -> tuple[HealthStatus, str | None, dict[str, Any]]:
    if value is False:
        return HealthStatus.UNHEALTHY, "check returned False", {}
    if isinstance(value, HealthStatus):
        return value, None, {}
    if isinstance(value, Mapping):
        details = redact(dict(value))
        return HealthStatus.HEALTHY, None, details if isinstance(details, dict) else {}
    return HealthStatus.HEALTHY, None, {}


async def run_check(name: str, fn: CheckFn, *, critical: bool = True, timeout: float = 2.0) -> CheckResult:
    """Run one check under ``timeout``; never raises (except cancellation of the caller)."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            value = fn()
            if inspect.isawaitable(value):
                value = await value
        status, error, details = _interpret(value)
    except TimeoutError:
        status, error, details = HealthStatus.UNHEALTHY, f"timed out after {timeout:g}s", {}
    except Exception as exc:
        status, error, details = HealthStatus.UNHEALTHY, _describe(exc), {}
    return CheckResult(
        name=name,
        status=status,
        critical=critical,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        error=error,
        details=details,
    )


class HealthRegistry:
    """Named checks split into liveness and readiness views.

    Args:
        cache_ttl: Seconds a report is reused (0 disables caching).
    """

    def __init__(self, *, cache_ttl: float = 1.0) -> None:
        self.cache_ttl = cache_ttl
        self._checks: dict[str, _Check] = {}
        self._cache: dict[bool, tuple[float, HealthReport]] = {}
        self._inflight: dict[bool, asyncio.Task[HealthReport]] = {}

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
        """
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        self._checks[name] = _Check(name, check, critical, timeout, liveness)
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
        self._cache.clear()

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
        task = self._inflight.get(liveness)
        if task is None or task.get_loop() is not loop:
            # One run shared by concurrent callers; a cancelled caller does not cancel it.
            task = loop.create_task(self._run(liveness=liveness))
            self._inflight[liveness] = task
            task.add_done_callback(functools.partial(self._finished, liveness))
        return await asyncio.shield(task)

    def _finished(self, liveness: bool, task: asyncio.Task[HealthReport]) -> None:
        if self._inflight.get(liveness) is task:
            del self._inflight[liveness]
        if not task.cancelled() and task.exception() is None:
            self._cache[liveness] = (time.monotonic(), task.result())

    async def _run(self, *, liveness: bool) -> HealthReport:
        checks = [check for check in self._checks.values() if check.liveness or not liveness]
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
