"""Tests for health checks, the registry and aggregation."""

from __future__ import annotations

import asyncio
import time

import pytest

from internal_base.health import (
    CheckResult,
    HealthRegistry,
    HealthReport,
    HealthStatus,
    aggregate,
    default_registry,
    run_check,
)


async def ok() -> None:
    """A passing check."""


async def broken() -> None:
    """A check that raises."""
    raise ConnectionError("refused")


async def hang() -> None:
    """A check that never finishes in time."""
    await asyncio.sleep(10)


def result(status: HealthStatus, *, critical: bool = True) -> CheckResult:
    """Build a result with the given status."""
    return CheckResult(name="x", status=status, critical=critical)


def test_status_values() -> None:
    """Statuses are the strings healthy, degraded and unhealthy."""
    assert [str(s) for s in HealthStatus] == ["healthy", "degraded", "unhealthy"]


def test_aggregate_empty_is_healthy() -> None:
    """No checks aggregate to healthy."""
    assert aggregate([]) == HealthStatus.HEALTHY


def test_aggregate_critical_failure_is_unhealthy() -> None:
    """An unhealthy critical check makes the aggregate unhealthy."""
    assert aggregate([result(HealthStatus.HEALTHY), result(HealthStatus.UNHEALTHY)]) == HealthStatus.UNHEALTHY


def test_aggregate_noncritical_failure_is_degraded() -> None:
    """An unhealthy non-critical check only degrades the aggregate."""
    assert aggregate([result(HealthStatus.UNHEALTHY, critical=False)]) == HealthStatus.DEGRADED


def test_aggregate_degraded_check_is_degraded() -> None:
    """A degraded critical check degrades the aggregate."""
    assert aggregate([result(HealthStatus.DEGRADED)]) == HealthStatus.DEGRADED


async def test_passing_check_is_healthy() -> None:
    """A check that returns without raising is healthy."""
    assert (await run_check("ok", ok)).status == HealthStatus.HEALTHY


async def test_false_is_unhealthy() -> None:
    """A check returning False is unhealthy with a reason."""
    checked = await run_check("f", lambda: False)
    assert (checked.status, checked.error) == (HealthStatus.UNHEALTHY, "check returned False")


async def test_raising_check_is_unhealthy_with_reason() -> None:
    """A raising check is unhealthy and names the exception."""
    checked = await run_check("b", broken)
    assert (checked.status, checked.error) == (HealthStatus.UNHEALTHY, "ConnectionError: refused")


async def test_raising_check_without_message() -> None:
    """An exception without a message is named by its type."""

    async def bare() -> None:
        raise RuntimeError

    assert (await run_check("b", bare)).error == "RuntimeError"


async def test_hanging_check_times_out() -> None:
    """A hanging check becomes unhealthy after its timeout."""
    checked = await run_check("h", hang, timeout=0.02)
    assert (checked.status, checked.error) == (HealthStatus.UNHEALTHY, "timed out after 0.02s")


async def test_status_return_is_kept() -> None:
    """A check may return a HealthStatus directly."""
    assert (await run_check("d", lambda: HealthStatus.DEGRADED)).status == HealthStatus.DEGRADED


async def test_mapping_return_becomes_redacted_details() -> None:
    """A returned mapping becomes redacted details."""
    checked = await run_check("m", lambda: {"pool": 3, "password": "x"})
    assert checked.details == {"pool": 3, "password": "***"}


async def test_readiness_runs_all_checks() -> None:
    """Readiness aggregates every registered check, sorted by name."""
    registry = HealthRegistry(cache_ttl=0)
    registry.register("db", broken)
    registry.register("cache", ok)
    report = await registry.readiness()
    assert (report.status, [c.name for c in report.checks]) == (HealthStatus.UNHEALTHY, ["cache", "db"])


async def test_liveness_runs_only_liveness_checks() -> None:
    """Liveness only runs checks registered with liveness=True."""
    registry = HealthRegistry(cache_ttl=0)
    registry.register("loop", ok, liveness=True)
    registry.register("db", broken)
    report = await registry.liveness()
    assert (report.status, [c.name for c in report.checks]) == (HealthStatus.HEALTHY, ["loop"])


async def test_noncritical_failure_degrades_readiness() -> None:
    """A failing non-critical check yields a degraded report with HTTP 200."""
    registry = HealthRegistry(cache_ttl=0)
    registry.register("metrics", broken, critical=False)
    report = await registry.readiness()
    assert (report.status, report.http_status) == (HealthStatus.DEGRADED, 200)


async def test_unhealthy_report_http_status() -> None:
    """An unhealthy report maps to HTTP 503."""
    registry = HealthRegistry(cache_ttl=0)
    registry.register("db", broken)
    assert (await registry.readiness()).http_status == 503


async def test_checks_run_concurrently() -> None:
    """Ten 50 ms checks finish in far less than 500 ms."""
    registry = HealthRegistry(cache_ttl=0)
    for index in range(10):
        registry.register(f"c{index}", lambda: asyncio.sleep(0.05))
    started = time.perf_counter()
    report = await registry.readiness()
    assert report.status == HealthStatus.HEALTHY
    assert time.perf_counter() - started < 0.3


async def test_results_are_cached_for_ttl() -> None:
    """Within the TTL a second call reuses the report without running checks."""
    calls = 0

    async def counted() -> None:
        nonlocal calls
        calls += 1

    registry = HealthRegistry(cache_ttl=60)
    registry.register("c", counted)
    first = await registry.readiness()
    await asyncio.sleep(0)
    second = await registry.readiness()
    assert (first is second, calls) == (True, 1)


async def test_concurrent_callers_share_one_run() -> None:
    """Concurrent callers share one in-flight evaluation."""
    calls = 0

    async def slow() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)

    registry = HealthRegistry(cache_ttl=0)
    registry.register("s", slow)
    reports = await asyncio.gather(*(registry.readiness() for _ in range(5)))
    assert (calls, len({id(r) for r in reports})) == (1, 1)


async def test_register_invalidates_cache() -> None:
    """Registering a check drops the cached report."""
    registry = HealthRegistry(cache_ttl=60)
    await registry.readiness()
    registry.register("db", broken)
    assert (await registry.readiness()).status == HealthStatus.UNHEALTHY


async def test_unregister_removes_check() -> None:
    """An unregistered check no longer runs; unknown names are ignored."""
    registry = HealthRegistry(cache_ttl=0)
    registry.register("db", broken)
    registry.unregister("db")
    registry.unregister("missing")
    assert (registry.names, (await registry.readiness()).status) == ([], HealthStatus.HEALTHY)


def test_unregister_with_check_keeps_a_newer_registration() -> None:
    """A client closing down does not remove the check another client registered under its name."""
    registry = HealthRegistry(cache_ttl=0)
    registry.register("redis", broken)
    registry.register("redis", ok)  # a second client replaced the first one's check
    registry.unregister("redis", broken)  # the first client closes
    assert registry.names == ["redis"]
    registry.unregister("redis", ok)
    assert registry.names == []


def test_register_rejects_bad_timeout() -> None:
    """A non-positive timeout is rejected."""
    with pytest.raises(ValueError, match="timeout"):
        HealthRegistry().register("x", ok, timeout=0)


def test_register_replaces_same_name() -> None:
    """Registering a name twice keeps one check."""
    registry = HealthRegistry()
    registry.register("x", ok)
    registry.register("x", broken)
    assert registry.names == ["x"]


def test_report_check_lookup() -> None:
    """``report.check(name)`` finds a result or raises KeyError."""
    report = HealthReport(
        status=HealthStatus.HEALTHY, checks=[CheckResult(name="a", status=HealthStatus.HEALTHY)]
    )
    with pytest.raises(KeyError):
        report.check("b")
    assert report.check("a").name == "a"


def test_report_serialises_to_json() -> None:
    """Reports serialise to JSON with string statuses."""
    report = HealthReport(status=HealthStatus.DEGRADED)
    assert report.model_dump(mode="json")["status"] == "degraded"


def test_default_registry_is_a_singleton() -> None:
    """``default_registry`` returns the same registry each time."""
    assert default_registry() is default_registry()
