"""Tests for the circuit breaker's service defaults, half-open probes and failure classification."""

from __future__ import annotations

import asyncio

import pytest

from internal_base.errors import CircuitOpenError, ConfigurationError
from internal_base.resilience import CircuitBreaker


class Clock:
    """A manual monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def fail() -> None:
    """Always fails with a ConnectionError."""
    raise ConnectionError("down")


def opened(clock: Clock, **kwargs: int) -> CircuitBreaker:
    """A breaker opened by one failure, on ``clock``."""
    breaker = CircuitBreaker("dep", failure_threshold=1, clock=clock, **kwargs)  # type: ignore[arg-type]
    breaker.record_failure()
    return breaker


def test_reset_timeout_defaults_to_five_seconds() -> None:
    """A recovered dependency is probed 5 s after the circuit opened, not 30 s."""
    clock = Clock()
    breaker = opened(clock)
    clock.now += 4.9
    before = breaker.state
    clock.now += 0.1
    assert (breaker.reset_timeout, before, breaker.state) == (5.0, "open", "half_open")


def test_retry_after_counts_down_to_the_probe() -> None:
    """CircuitOpenError.retry_after is the time left until the half-open probe."""
    clock = Clock()
    breaker = opened(clock)
    clock.now += 2.0
    with pytest.raises(CircuitOpenError) as caught:
        breaker._admit()
    assert caught.value.retry_after == pytest.approx(3.0)


async def test_half_open_admits_up_to_half_open_probes_calls() -> None:
    """With half_open_probes=2, two probes run at once and a third call fails fast."""
    clock = Clock()
    breaker = opened(clock, half_open_probes=2)
    clock.now += 5
    gate = asyncio.Event()

    async def wait_for_gate() -> str:
        await gate.wait()
        return "ok"

    probes = [asyncio.create_task(breaker.call(wait_for_gate)) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(CircuitOpenError):
        await breaker.call(wait_for_gate)
    gate.set()
    assert (await asyncio.wait_for(asyncio.gather(*probes), 10), breaker.state) == (["ok", "ok"], "closed")


async def test_first_successful_probe_closes() -> None:
    """A success in half-open closes the circuit and clears the failure count."""
    clock = Clock()
    breaker = opened(clock, half_open_probes=3)
    clock.now += 5

    async def ok() -> str:
        return "ok"

    assert (await breaker.call(ok), breaker.state, breaker.failure_count) == ("ok", "closed", 0)


async def test_failed_probe_reopens_for_another_reset_timeout() -> None:
    """A failed probe opens the circuit again, with the full reset timeout ahead."""
    clock = Clock()
    breaker = opened(clock)
    clock.now += 5
    with pytest.raises(ConnectionError):
        await breaker.call(fail)
    with pytest.raises(CircuitOpenError) as caught:
        await breaker.call(fail)
    assert (breaker.state, caught.value.retry_after) == ("open", 5.0)


async def test_only_failure_on_exceptions_count() -> None:
    """Exceptions outside failure_on count as answers, not failures."""
    breaker = CircuitBreaker("dep", failure_threshold=1, failure_on=(ConnectionError,))

    async def bad_input() -> None:
        raise ValueError("caller's mistake")

    with pytest.raises(ValueError, match="caller"):
        await breaker.call(bad_input)
    closed = breaker.state
    with pytest.raises(ConnectionError):
        await breaker.call(fail)
    assert (closed, breaker.state) == ("closed", "open")


async def test_excluded_wins_over_failure_on() -> None:
    """An excluded subclass of a failure_on type does not count."""

    class Refused(ConnectionError):
        pass

    async def refused() -> None:
        raise Refused("refused")

    breaker = CircuitBreaker("dep", failure_threshold=1, failure_on=(ConnectionError,), excluded=(Refused,))
    with pytest.raises(Refused):
        await breaker.call(refused)
    assert breaker.state == "closed"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"half_open_probes": 0}, "half_open_probes must be >= 1"),
        ({"failure_on": (int,)}, "failure_on must hold exception types"),
        ({"excluded": ("ValueError",)}, "excluded must hold exception types"),
    ],
)
def test_invalid_arguments_are_rejected(kwargs: dict[str, object], message: str) -> None:
    """Out-of-range counts and non-exception types raise ConfigurationError naming the argument."""
    with pytest.raises(ConfigurationError, match=message):
        CircuitBreaker("dep", **kwargs)  # type: ignore[arg-type]


async def test_release_counts_neither_success_nor_failure() -> None:
    """A released call leaves the failure count alone and frees a half-open probe slot."""
    clock = Clock()
    breaker = CircuitBreaker("dep", failure_threshold=2, clock=clock)
    breaker.record_failure()
    async with breaker:
        breaker.release()
    assert breaker.failure_count == 1
    breaker.record_failure()
    assert str(breaker.state) == "open"  # str(): mypy would keep the narrowed literal below
    clock.now += breaker.reset_timeout
    async with breaker:  # the half-open probe ...
        breaker.release()  # ... says nothing about the dependency
    assert str(breaker.state) == "half_open"
    async with breaker:  # so the next call may probe
        pass
    assert breaker.state == "closed"


def test_release_outside_a_call_does_nothing() -> None:
    """release() with no enclosing call changes no state."""
    breaker = CircuitBreaker("dep", failure_threshold=1)
    breaker.release()
    assert (breaker.state, breaker.failure_count) == ("closed", 0)


async def test_an_outage_logs_one_line_down_and_one_line_back(caplog: pytest.LogCaptureFixture) -> None:
    """Failed probes while the dependency stays down are not logged at WARNING; down and back are."""
    clock = Clock()
    breaker = opened(clock)
    for _ in range(3):  # three failed probes, one reset period apart
        clock.now += breaker.reset_timeout
        with pytest.raises(ConnectionError):
            await breaker.call(fail)
    clock.now += breaker.reset_timeout
    async with breaker:
        pass
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == ["circuit dep: closed -> open", "circuit dep: half_open -> closed"]
