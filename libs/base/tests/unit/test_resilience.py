"""Tests for retries, the circuit breaker, timeouts, policies and the testing switch."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from internal_base.errors import CircuitOpenError, ConfigurationError
from internal_base.health import HealthStatus
from internal_base.resilience import (
    CircuitBreaker,
    ResiliencePolicy,
    RetryPolicy,
    sleep,
    testing,
    with_timeout,
)
from internal_base.telemetry import configure_telemetry


class Clock:
    """A manual monotonic clock for the breaker."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Flaky:
    """Fails ``failures`` times with ``exc`` and then returns ``"ok"``."""

    def __init__(self, failures: int, exc: type[BaseException] = ConnectionError) -> None:
        self.failures = failures
        self.exc = exc
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc(f"failure {self.calls}")
        return "ok"


async def fail() -> None:
    """Always fails with a ConnectionError."""
    raise ConnectionError("down")


async def succeed() -> str:
    """Always succeeds."""
    return "ok"


# -- testing switch and sleep -------------------------------------------------------------
async def test_testing_switch_skips_waits() -> None:
    """Inside ``testing()`` a long sleep returns at once and is recorded."""
    started = time.perf_counter()
    with testing() as mode:
        await sleep(30)
    assert (time.perf_counter() - started < 1, mode.sleeps) == (True, [30])


async def test_testing_switch_with_wait_really_waits() -> None:
    """``testing(wait=True)`` records and still waits."""
    started = time.perf_counter()
    async with testing(wait=True) as mode:
        await sleep(0.02)
    assert time.perf_counter() - started >= 0.015
    assert mode.sleeps == [0.02]


def test_testing_switch_inactive_outside() -> None:
    """No switch is active outside the block."""
    with testing():
        pass
    assert testing.current() is None


async def test_sleep_negative_is_zero() -> None:
    """A negative sleep returns at once."""
    started = time.perf_counter()
    await sleep(-5)
    assert time.perf_counter() - started < 0.5


# -- with_timeout ---------------------------------------------------------------------------
async def test_with_timeout_returns_value() -> None:
    """A fast awaitable returns its value."""
    assert await with_timeout(succeed(), 1.0) == "ok"


async def test_with_timeout_raises_timeout_error() -> None:
    """A slow awaitable raises TimeoutError naming the limit."""
    with pytest.raises(TimeoutError, match="0.01s"):
        await with_timeout(asyncio.sleep(1), 0.01)


async def test_with_timeout_none_means_no_limit() -> None:
    """None disables the limit."""
    assert await with_timeout(succeed(), None) == "ok"


async def test_with_timeout_rejects_non_positive() -> None:
    """A zero limit is rejected (and the coroutine closed)."""
    with pytest.raises(ValueError, match="positive"):
        await with_timeout(succeed(), 0)


async def test_with_timeout_passes_inner_timeout_error() -> None:
    """A TimeoutError raised by the awaitable itself propagates unchanged."""

    async def inner() -> None:
        raise TimeoutError("inner")

    with pytest.raises(TimeoutError, match="inner"):
        await with_timeout(inner(), 5)


# -- RetryPolicy ----------------------------------------------------------------------------
def test_retry_policy_defaults() -> None:
    """Defaults match the contract."""
    policy = RetryPolicy()
    assert (policy.attempts, policy.initial_wait, policy.max_wait, policy.total_timeout, policy.retry_on) == (
        3,
        0.1,
        5.0,
        30.0,
        (ConnectionError, TimeoutError),
    )


@pytest.mark.parametrize(
    "kwargs",
    [{"attempts": 0}, {"initial_wait": -1}, {"max_wait": 0.01, "initial_wait": 1}, {"total_timeout": 0}],
)
def test_retry_policy_validates(kwargs: dict[str, float]) -> None:
    """Invalid values raise ConfigurationError."""
    with pytest.raises(ConfigurationError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_retry_policy_rejects_non_exception_types() -> None:
    """``retry_on`` must hold exception classes."""
    with pytest.raises(ConfigurationError, match="retry_on"):
        RetryPolicy(retry_on=(int,))  # type: ignore[arg-type]


def test_retry_policy_is_frozen() -> None:
    """The policy cannot be changed after creation."""
    policy = RetryPolicy()
    with pytest.raises(AttributeError):
        policy.attempts = 9  # type: ignore[misc]


@pytest.mark.parametrize(("attempt", "cap"), [(1, 0.1), (2, 0.2), (3, 0.4), (10, 5.0), (5000, 5.0)])
def test_backoff_full_jitter_bounds(attempt: int, cap: float) -> None:
    """Backoff stays within [0, min(max_wait, initial_wait * 2**(attempt-1))]."""
    policy = RetryPolicy()
    values = [policy.backoff(attempt) for _ in range(200)]
    assert min(values) >= 0
    assert max(values) <= cap
    assert max(values) > cap / 4


async def test_retry_succeeds_after_failures() -> None:
    """Retryable failures are retried until success."""
    flaky = Flaky(2)
    with testing():
        assert (await RetryPolicy().call(flaky), flaky.calls) == ("ok", 3)


async def test_retry_reraises_last_exception() -> None:
    """After the last attempt the last exception is re-raised as is."""
    flaky = Flaky(5)
    with testing(), pytest.raises(ConnectionError, match="failure 3"):
        await RetryPolicy(attempts=3).call(flaky)


async def test_retry_ignores_other_exceptions() -> None:
    """Exceptions not named in ``retry_on`` propagate at once."""
    flaky = Flaky(5, exc=KeyError)
    with testing(), pytest.raises(KeyError):
        await RetryPolicy().call(flaky)
    assert flaky.calls == 1


async def test_retry_single_attempt_calls_once() -> None:
    """``attempts=1`` calls once and does not retry."""
    flaky = Flaky(1)
    with pytest.raises(ConnectionError):
        await RetryPolicy(attempts=1).call(flaky)
    assert flaky.calls == 1


async def test_retry_passes_arguments() -> None:
    """Positional and keyword arguments reach the function."""

    async def add(a: int, *, b: int) -> int:
        return a + b

    assert await RetryPolicy().call(add, 1, b=2) == 3


async def test_retry_waits_are_recorded_backoffs() -> None:
    """Each retry waits a full-jitter backoff for its attempt number."""
    with testing() as mode:
        await RetryPolicy(attempts=4, initial_wait=1, max_wait=1).call(Flaky(3))
    assert len(mode.sleeps) == 3
    assert all(0 <= s <= 1 for s in mode.sleeps)


async def test_retry_wait_override_hook() -> None:
    """The override hook replaces the backoff (e.g. Retry-After)."""
    policy = RetryPolicy(wait_override=lambda exc: 7.5)
    with testing() as mode:
        await policy.call(Flaky(2))
    assert mode.sleeps == [7.5, 7.5]


async def test_retry_wait_override_none_falls_back() -> None:
    """A hook returning None keeps the computed backoff."""
    policy = RetryPolicy(initial_wait=0.5, max_wait=0.5, wait_override=lambda exc: None)
    with testing() as mode:
        await policy.call(Flaky(1))
    assert len(mode.sleeps) == 1
    assert mode.sleeps[0] <= 0.5


async def test_retry_total_timeout_bounds_waits() -> None:
    """No retry starts when its wait would exceed the total time budget."""
    policy = RetryPolicy(attempts=10, total_timeout=5.0, wait_override=lambda exc: 3.0)
    flaky = Flaky(10)
    with testing() as mode, pytest.raises(ConnectionError):
        await policy.call(flaky)
    assert (flaky.calls, mode.sleeps) == (2, [3.0])


async def test_retry_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Each retry logs a warning naming the policy and redacting the error."""
    caplog.set_level(logging.WARNING, logger="internal_base.resilience")

    async def leaky() -> None:
        raise ConnectionError("redis://:pw@h/0 refused")

    with testing(), pytest.raises(ConnectionError):
        await RetryPolicy(attempts=2, name="cache").call(leaky)
    assert [r.getMessage().split(";")[0] for r in caplog.records] == [
        "retry cache: attempt 1/2 failed with ConnectionError: redis://:***@h/0 refused"
    ]


async def test_retry_is_counted() -> None:
    """Retries add to the ``commons.retry.attempts`` counter."""
    telemetry = configure_telemetry(service_name="retry-test", exporter="memory", set_global=False)
    with testing():
        await RetryPolicy(name="counted").call(Flaky(2))
    assert telemetry.metric_reader is not None
    data = telemetry.metric_reader.get_metrics_data()
    assert data is not None
    points = [
        point
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == "commons.retry.attempts"
        for point in metric.data.data_points
    ]
    wanted = {"policy": "counted", "exception": "ConnectionError"}
    assert sum(getattr(p, "value", 0) for p in points if p.attributes == wanted) == 2


# -- CircuitBreaker -------------------------------------------------------------------------
def test_breaker_validates() -> None:
    """A non-positive threshold or negative timeout is rejected."""
    with pytest.raises(ConfigurationError):
        CircuitBreaker("x", failure_threshold=0)
    with pytest.raises(ConfigurationError):
        CircuitBreaker("x", reset_timeout=-1)


def test_breaker_starts_closed() -> None:
    """A new breaker is closed."""
    assert CircuitBreaker("new").state == "closed"


async def test_breaker_opens_after_threshold() -> None:
    """Consecutive failures up to the threshold open the circuit."""
    breaker = CircuitBreaker("b", failure_threshold=2)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await breaker.call(fail)
    assert breaker.state == "open"


async def test_breaker_success_resets_count() -> None:
    """A success resets the consecutive-failure count."""
    breaker = CircuitBreaker("b", failure_threshold=2)
    with pytest.raises(ConnectionError):
        await breaker.call(fail)
    await breaker.call(succeed)
    assert (breaker.failure_count, breaker.state) == (0, "closed")


async def test_open_breaker_rejects_with_retry_after() -> None:
    """An open breaker raises CircuitOpenError with its name and remaining time."""
    clock = Clock()
    breaker = CircuitBreaker("svc", failure_threshold=1, reset_timeout=10, clock=clock)
    with pytest.raises(ConnectionError):
        await breaker.call(fail)
    clock.now += 4
    with pytest.raises(CircuitOpenError) as info:
        await breaker.call(succeed)
    assert (info.value.name, info.value.retry_after) == ("svc", 6.0)


async def test_breaker_half_open_after_timeout() -> None:
    """After the reset timeout the breaker reports half-open."""
    clock = Clock()
    breaker = CircuitBreaker("b", failure_threshold=1, reset_timeout=5, clock=clock)
    with pytest.raises(ConnectionError):
        await breaker.call(fail)
    clock.now += 5
    assert breaker.state == "half_open"


async def test_half_open_admits_exactly_one_probe() -> None:
    """Half-open lets one concurrent probe through and rejects the rest."""
    clock = Clock()
    breaker = CircuitBreaker("b", failure_threshold=1, reset_timeout=1, clock=clock)
    with pytest.raises(ConnectionError):
        await breaker.call(fail)
    clock.now += 1
    gate = asyncio.Event()

    async def probe() -> str:
        await gate.wait()
        return "ok"

    tasks = [asyncio.create_task(breaker.call(probe)) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert (sum(r == "ok" for r in results), sum(isinstance(r, CircuitOpenError) for r in results)) == (1, 4)


async def test_successful_probe_closes() -> None:
    """A successful probe closes the circuit."""
    clock = Clock()
    breaker = CircuitBreaker("b", failure_threshold=1, reset_timeout=1, clock=clock)
    with pytest.raises(ConnectionError):
        await breaker.call(fail)
    clock.now += 1
    await breaker.call(succeed)
    assert breaker.state == "closed"


async def test_failed_probe_reopens() -> None:
    """A failed probe opens the circuit again for a full timeout."""
    clock = Clock()
    breaker = CircuitBreaker("b", failure_threshold=1, reset_timeout=1, clock=clock)
    with pytest.raises(ConnectionError):
        await breaker.call(fail)
    clock.now += 1
    with pytest.raises(ConnectionError):
        await breaker.call(fail)
    assert breaker.state == "open"


async def test_cancelled_probe_frees_the_slot() -> None:
    """A cancelled probe releases half-open for the next caller."""
    clock = Clock()
    breaker = CircuitBreaker("b", failure_threshold=1, reset_timeout=1, clock=clock)
    with pytest.raises(ConnectionError):
        await breaker.call(fail)
    clock.now += 1
    task = asyncio.create_task(breaker.call(asyncio.sleep, 10))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await breaker.call(succeed), breaker.state) == ("ok", "closed")


async def test_excluded_exceptions_do_not_count() -> None:
    """Excluded exception types pass through without counting as failures."""
    breaker = CircuitBreaker("b", failure_threshold=1, excluded=(KeyError,))

    async def missing() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        await breaker.call(missing)
    assert breaker.state == "closed"


async def test_async_with_records_failure() -> None:
    """``async with breaker`` counts an escaping exception."""
    breaker = CircuitBreaker("b", failure_threshold=1)
    with pytest.raises(RuntimeError):
        async with breaker:
            raise RuntimeError("x")
    assert breaker.state == "open"


async def test_record_failure_inside_block_settles_call() -> None:
    """``record_failure`` inside a block counts once even though the block succeeds."""
    breaker = CircuitBreaker("b", failure_threshold=2)
    async with breaker:
        breaker.record_failure()
    assert breaker.failure_count == 1


async def test_record_failure_standalone_opens() -> None:
    """Standalone ``record_failure`` calls count towards the threshold."""
    breaker = CircuitBreaker("b", failure_threshold=2)
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "open"


async def test_record_success_standalone_closes_half_open() -> None:
    """A standalone ``record_success`` while half-open closes the circuit."""
    clock = Clock()
    breaker = CircuitBreaker("b", failure_threshold=1, reset_timeout=1, clock=clock)
    breaker.record_failure()
    clock.now += 1
    breaker.record_success()
    assert breaker.state == "closed"


async def test_listeners_see_transitions() -> None:
    """Listeners receive (name, old, new) for each change; a failing listener is ignored."""
    clock = Clock()
    breaker = CircuitBreaker("lst", failure_threshold=1, reset_timeout=1, clock=clock)
    seen: list[tuple[str, str, str]] = []

    def broken(name: str, old: str, new: str) -> None:
        raise RuntimeError("listener bug")

    breaker.add_listener(lambda name, old, new: seen.append((name, old, new)))
    breaker.add_listener(broken)
    breaker.record_failure()
    clock.now += 1
    await breaker.call(succeed)
    assert seen == [("lst", "closed", "open"), ("lst", "open", "half_open"), ("lst", "half_open", "closed")]


def test_remove_listener() -> None:
    """A removed listener is no longer called."""
    breaker = CircuitBreaker("b", failure_threshold=1)
    seen: list[str] = []

    def listener(name: str, old: str, new: str) -> None:
        seen.append(new)

    breaker.add_listener(listener)
    breaker.remove_listener(listener)
    breaker.record_failure()
    assert seen == []


def test_reset_closes() -> None:
    """``reset`` forces the breaker closed."""
    breaker = CircuitBreaker("b", failure_threshold=1)
    breaker.record_failure()
    breaker.reset()
    assert (breaker.state, breaker.failure_count) == ("closed", 0)


def test_breaker_repr() -> None:
    """The repr shows name and state."""
    assert repr(CircuitBreaker("r")) == "CircuitBreaker(name='r', state='closed', failures=0)"


async def test_breaker_health_check_states() -> None:
    """The health check is healthy closed, degraded half-open and raises open."""
    clock = Clock()
    breaker = CircuitBreaker("h", failure_threshold=1, reset_timeout=1, clock=clock)
    closed = await breaker.health_check()
    breaker.record_failure()
    with pytest.raises(CircuitOpenError):
        await breaker.health_check()
    clock.now += 1
    assert (closed, await breaker.health_check()) == (HealthStatus.HEALTHY, HealthStatus.DEGRADED)


async def test_stale_result_does_not_close_half_open() -> None:
    """A call admitted before the circuit opened cannot close it later."""
    clock = Clock()
    breaker = CircuitBreaker("b", failure_threshold=1, reset_timeout=1, clock=clock)
    gate = asyncio.Event()

    async def slow() -> str:
        await gate.wait()
        return "late"

    stale = asyncio.create_task(breaker.call(slow))
    await asyncio.sleep(0)
    breaker.record_failure()
    clock.now += 1
    assert breaker.state == "half_open"
    gate.set()
    assert (await stale, breaker.state) == ("late", "half_open")


# -- ResiliencePolicy and settings -----------------------------------------------------------
async def test_policy_without_parts_just_calls() -> None:
    """An empty policy awaits the function once."""
    assert await ResiliencePolicy().run(succeed) == "ok"


async def test_policy_timeout_per_attempt_is_retried() -> None:
    """A timed-out attempt is retried (TimeoutError is retryable by default)."""
    calls = 0

    async def slow_then_fast() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(1)
        return "ok"

    policy = ResiliencePolicy(timeout=0.02, retry=RetryPolicy())
    with testing():
        assert (await policy.run(slow_then_fast), calls) == ("ok", 2)


async def test_policy_breaker_counts_one_failure_per_run() -> None:
    """The breaker wraps the whole retried call: one run, one failure."""
    breaker = CircuitBreaker("p", failure_threshold=5)
    policy = ResiliencePolicy(retry=RetryPolicy(attempts=3), breaker=breaker)
    with testing(), pytest.raises(ConnectionError):
        await policy.run(fail)
    assert breaker.failure_count == 1


async def test_policy_open_breaker_short_circuits() -> None:
    """An open breaker rejects before calling the function."""
    breaker = CircuitBreaker("p", failure_threshold=1)
    breaker.record_failure()
    flaky = Flaky(0)
    with pytest.raises(CircuitOpenError):
        await ResiliencePolicy(breaker=breaker).run(flaky)
    assert flaky.calls == 0


async def test_total_timeout_counts_first_attempt() -> None:
    """The time spent in the first attempt counts towards the total budget."""
    calls = 0

    async def slow_failure() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.06)
        raise ConnectionError("slow")

    with testing(), pytest.raises(ConnectionError):
        await RetryPolicy(attempts=5, total_timeout=0.05).call(slow_failure)
    assert calls == 1
