"""Tests for health checks under stress: blocking, self-cancelling and misbehaving checks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

import pytest

from internal_base.context import correlation_scope, get_correlation_id
from internal_base.health import HealthRegistry, HealthStatus, run_check

UNHEALTHY = HealthStatus.UNHEALTHY


async def ok() -> bool:
    """A passing check."""
    return True


def blocking_check(release: threading.Event, calls: list[int]) -> Callable[[], bool]:
    """A synchronous check that blocks its thread until ``release`` is set (bounded)."""

    def check() -> bool:
        calls.append(1)
        release.wait(30)
        return True

    return check


async def test_blocking_sync_check_is_reported_unhealthy_after_its_timeout() -> None:
    """A synchronous check that blocks past its timeout is unhealthy; the loop is not blocked."""
    release = threading.Event()
    # Before the fix the check ran on the loop: it only returned when this timer released it.
    timer = threading.Timer(5, release.set)
    timer.start()
    try:
        checked = await run_check("sync", blocking_check(release, []), timeout=0.5)
    finally:
        release.set()
        timer.cancel()
    assert (checked.status, checked.error) == (UNHEALTHY, "timed out after 0.5s")


async def test_hung_sync_check_is_not_started_twice() -> None:
    """A sync check still running from an earlier run is awaited again, not run in a second thread."""
    release, calls = threading.Event(), list[int]()
    check = blocking_check(release, calls)
    try:
        first = await run_check("sync", check, timeout=0.2)
        second = await run_check("sync", check, timeout=0.2)
    finally:
        release.set()
    assert (first.status, second.status, len(calls)) == (UNHEALTHY, UNHEALTHY, 1)


async def test_sync_check_result_is_used() -> None:
    """A sync check's return value is interpreted as before (False is unhealthy)."""
    checked = await run_check("sync", lambda: False, timeout=5)
    assert (checked.status, checked.error) == (UNHEALTHY, "check returned False")


async def test_sync_check_sees_the_callers_context() -> None:
    """A sync check runs in a copy of the caller's context (correlation ID)."""
    with correlation_scope("cid-health"):
        checked = await run_check("ctx", lambda: {"cid": get_correlation_id()}, timeout=5)
    assert checked.details == {"cid": "cid-health"}


async def test_sync_check_returning_a_coroutine_is_awaited() -> None:
    """A sync callable returning a coroutine (``lambda: client.ping()``) is awaited on the loop."""
    checked = await run_check("lambda", lambda: asyncio.sleep(0, result=False), timeout=5)
    assert checked.status == UNHEALTHY


async def test_check_raising_cancelled_error_is_unhealthy() -> None:
    """A check that raises CancelledError itself is unhealthy; readiness does not raise."""

    async def cancels() -> None:
        raise asyncio.CancelledError

    registry = HealthRegistry(cache_ttl=0)
    registry.register("cancels", cancels)
    registry.register("fine", ok)
    report = await registry.readiness()
    assert (report.status, report.check("cancels").error, report.check("fine").status) == (
        UNHEALTHY,
        "CancelledError",
        HealthStatus.HEALTHY,
    )


async def test_sync_check_raising_cancelled_error_is_unhealthy() -> None:
    """A sync check that raises CancelledError is unhealthy too."""

    def cancels() -> None:
        raise asyncio.CancelledError

    checked = await run_check("cancels", cancels, timeout=5)
    assert (checked.status, checked.error) == (UNHEALTHY, "CancelledError")


async def test_cancelling_the_caller_still_cancels() -> None:
    """Cancelling the task that runs a check cancels it (cancellation is not swallowed)."""
    started = asyncio.Event()

    async def waits() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(run_check("waits", waits, timeout=30))
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)


class Unprintable(Exception):
    """An exception whose ``__str__`` fails."""

    def __str__(self) -> str:
        raise RuntimeError("no str for you")


async def test_exception_with_failing_str_is_unhealthy() -> None:
    """An exception whose __str__ raises still gives an unhealthy result naming its type."""

    async def check() -> None:
        raise Unprintable

    registry = HealthRegistry(cache_ttl=0)
    registry.register("weird", check)
    report = await registry.readiness()
    assert (report.status, report.check("weird").error) == (UNHEALTHY, "Unprintable: <unprintable>")


async def test_unusable_return_value_is_unhealthy() -> None:
    """A return value that cannot be read (a mapping that raises) is unhealthy, not an exception."""

    class BadMapping(dict[str, object]):
        def items(self) -> object:  # type: ignore[override]
            raise RuntimeError("boom")

        def __iter__(self) -> object:  # type: ignore[override]
            raise RuntimeError("boom")

    checked = await run_check("bad", lambda: BadMapping(a=1), timeout=5)
    assert (checked.status, checked.error) == (
        UNHEALTHY,
        "check returned an unusable value: RuntimeError: boom",
    )


async def test_details_with_non_string_keys_are_kept() -> None:
    """Details with non-string keys are kept with their keys as text instead of failing."""
    checked = await run_check("keys", lambda: {1: "one"}, timeout=5)
    assert (checked.status, checked.details) == (HealthStatus.HEALTHY, {"1": "one"})


async def test_long_error_is_truncated() -> None:
    """A huge error message is cut to a bounded length."""

    async def check() -> None:
        raise RuntimeError("x" * 100_000)

    checked = await run_check("long", check, timeout=5)
    assert len(checked.error or "x" * 1001) <= 1000


async def test_own_timeout_error_is_not_reported_as_our_timeout() -> None:
    """A TimeoutError raised by the check itself keeps its own message."""

    async def check() -> None:
        raise TimeoutError("upstream gave up")

    checked = await run_check("t", check, timeout=5)
    assert checked.error == "TimeoutError: upstream gave up"


async def _slow_registry() -> tuple[HealthRegistry, asyncio.Event, asyncio.Event]:
    registry = HealthRegistry(cache_ttl=60)
    started, release = asyncio.Event(), asyncio.Event()

    async def slow() -> bool:
        started.set()
        await release.wait()
        return True

    registry.register("slow", slow, timeout=30)
    return registry, started, release


async def test_register_during_a_run_is_not_undone_by_its_cached_report() -> None:
    """A check registered while a run is in flight appears in the next report."""
    registry, started, release = await _slow_registry()
    running = asyncio.create_task(registry.readiness())
    await asyncio.wait_for(started.wait(), 10)
    registry.register("late", ok)
    release.set()
    await asyncio.wait_for(running, 10)
    report = await asyncio.wait_for(registry.readiness(), 10)
    assert [check.name for check in report.checks] == ["late", "slow"]


async def test_unregister_during_a_run_is_not_undone_by_its_cached_report() -> None:
    """A check removed while a run is in flight is absent from the next report."""
    registry, started, release = await _slow_registry()
    registry.register("gone", ok)
    running = asyncio.create_task(registry.readiness())
    await asyncio.wait_for(started.wait(), 10)
    registry.unregister("gone")
    release.set()
    await asyncio.wait_for(running, 10)
    report = await asyncio.wait_for(registry.readiness(), 10)
    assert [check.name for check in report.checks] == ["slow"]


async def test_caller_after_register_does_not_join_the_stale_run() -> None:
    """A caller arriving after a registration change gets a run that includes the change."""
    registry, started, release = await _slow_registry()
    first = asyncio.create_task(registry.readiness())
    await asyncio.wait_for(started.wait(), 10)
    registry.register("late", ok)
    second = asyncio.create_task(registry.readiness())
    await asyncio.sleep(0)
    release.set()
    report = await asyncio.wait_for(second, 10)
    await asyncio.wait_for(first, 10)
    assert [check.name for check in report.checks] == ["late", "slow"]


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), "5"])
def test_register_rejects_unusable_timeouts(timeout: object) -> None:
    """Zero, negative, NaN, infinite and non-numeric timeouts are refused."""
    with pytest.raises(ValueError, match="timeout"):
        HealthRegistry().register("x", ok, timeout=timeout)  # type: ignore[arg-type]


def test_register_rejects_a_non_callable() -> None:
    """Registering something that cannot be called fails at once."""
    with pytest.raises(TypeError, match="callable"):
        HealthRegistry().register("x", 42)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", 7])
def test_register_rejects_bad_names(name: object) -> None:
    """A check name must be a non-empty string."""
    with pytest.raises(ValueError, match="name"):
        HealthRegistry().register(name, ok)  # type: ignore[arg-type]


@pytest.mark.parametrize("ttl", [-1, float("nan"), float("inf")])
def test_registry_rejects_unusable_cache_ttl(ttl: float) -> None:
    """A negative, NaN or infinite cache_ttl is refused."""
    with pytest.raises(ValueError, match="cache_ttl"):
        HealthRegistry(cache_ttl=ttl)


async def test_details_of_any_type_serialise_to_json() -> None:
    """Details holding arbitrary objects still give a report that serialises to JSON."""

    class Opaque:
        def __repr__(self) -> str:
            return "Opaque()"

    checked = await run_check(
        "opaque", lambda: {"conn": Opaque(), "n": [1, {2}], "dsn": "redis://:pw@h/0"}, timeout=5
    )
    assert json.loads(checked.model_dump_json())["details"] == {
        "conn": "Opaque()",
        "n": [1, [2]],
        "dsn": "redis://:***@h/0",
    }


async def test_details_whose_repr_fails_do_not_fail_the_report() -> None:
    """A details value that cannot be printed is replaced, not an error."""

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    checked = await run_check("broken", lambda: {"x": Broken()}, timeout=5)
    assert (checked.status, checked.details) == (HealthStatus.HEALTHY, {"x": "<unprintable Broken>"})


@pytest.mark.parametrize("timeout", [0, float("nan")])
async def test_run_check_rejects_unusable_timeouts(timeout: float) -> None:
    """run_check refuses a timeout that is not a finite number > 0."""
    with pytest.raises(ValueError, match="timeout"):
        await run_check("x", ok, timeout=timeout)


def stubborn_check(release: asyncio.Event, calls: list[int]) -> Callable[[], Coroutine[Any, Any, bool]]:
    """An async check that swallows cancellation until ``release`` is set."""

    async def check() -> bool:
        calls.append(1)
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()
        return True

    return check


async def test_check_that_ignores_cancellation_cannot_hang_readiness() -> None:
    """An async check that swallows its cancellation is reported timed out; the run returns."""
    release = asyncio.Event()
    registry = HealthRegistry(cache_ttl=0)
    registry.register("stubborn", stubborn_check(release, []), timeout=0.2)
    running = asyncio.create_task(registry.readiness())
    done, _ = await asyncio.wait({running}, timeout=10)
    release.set()
    report = await running
    assert (running in done, report.check("stubborn").error) == (True, "timed out after 0.2s")


async def test_stubborn_check_is_not_started_again_while_it_runs() -> None:
    """A check still running after being cancelled is awaited again, not started a second time."""
    release, calls = asyncio.Event(), list[int]()
    check = stubborn_check(release, calls)
    runs = [asyncio.create_task(run_check("s", check, timeout=0.2))]
    await asyncio.wait(runs, timeout=10)  # not wait_for: it would wait for a cancellation that never ends
    runs.append(asyncio.create_task(run_check("s", check, timeout=0.2)))
    await asyncio.wait(runs[1:], timeout=10)
    finished = [run.done() for run in runs]
    release.set()
    first, second = [await run for run in runs]
    assert (finished, first.status, second.status, len(calls)) == ([True, True], UNHEALTHY, UNHEALTHY, 1)


def test_register_refuses_generator_functions() -> None:
    """A generator function is not a check (its body would never run): refused at once."""

    async def agen() -> AsyncIterator[bool]:
        yield True

    with pytest.raises(TypeError, match="generator"):
        HealthRegistry().register("gen", agen)


async def test_check_returning_a_generator_is_unhealthy() -> None:
    """A check that returns a generator instead of a result is unhealthy, not silently healthy."""

    def gen() -> Iterator[bool]:
        yield False

    checked = await run_check("gen", lambda: gen(), timeout=5)
    assert (checked.status, checked.error) == (UNHEALTHY, "check returned a generator, not a result")
