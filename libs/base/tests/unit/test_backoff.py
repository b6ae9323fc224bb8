"""Tests for ``Backoff``, the one backoff schedule, and ``RetryPolicy`` built on it."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from internal_base.errors import ConfigurationError
from internal_base.resilience import Backoff, RetryPolicy, sleep, testing


def test_defaults() -> None:
    """The default schedule starts at 0.1 s, doubles, stops at 5 s and jitters."""
    backoff = Backoff()
    assert (backoff.initial, backoff.maximum, backoff.multiplier, backoff.jitter) == (0.1, 5.0, 2.0, True)


@pytest.mark.parametrize(("attempt", "expected"), [(1, 0.5), (2, 1.5), (3, 4.0), (4, 4.0), (10_000, 4.0)])
def test_without_jitter_the_delay_is_the_capped_exponential(attempt: int, expected: float) -> None:
    """Without jitter, delay(n) = min(maximum, initial * multiplier ** (n - 1)), even for huge n."""
    assert Backoff(initial=0.5, maximum=4.0, multiplier=3.0, jitter=False).delay(attempt) == expected


@pytest.mark.parametrize(("attempt", "cap"), [(1, 0.1), (2, 0.2), (3, 0.4), (10, 5.0), (5000, 5.0)])
def test_full_jitter_stays_between_zero_and_the_cap(attempt: int, cap: float) -> None:
    """With jitter, delays are spread over [0, cap]."""
    values = [Backoff().delay(attempt) for _ in range(300)]
    assert (min(values) >= 0, max(values) <= cap, max(values) > cap / 4, len(set(values)) > 1) == (
        True,
        True,
        True,
        True,
    )


def test_multiplier_one_is_a_constant_cap() -> None:
    """multiplier=1 waits the same cap every time."""
    assert [Backoff(initial=0.3, maximum=0.3, multiplier=1, jitter=False).delay(n) for n in (1, 2, 50)] == [
        0.3,
        0.3,
        0.3,
    ]


def test_delays_iterates_the_schedule() -> None:
    """delays() yields delay(1), delay(2), ... without end."""
    schedule = Backoff(initial=1, maximum=8, jitter=False)
    assert list(itertools.islice(schedule.delays(), 6)) == [1, 2, 4, 8, 8, 8]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial": 0}, "initial must be > 0"),
        ({"initial": -1}, "initial must be > 0"),
        ({"initial": 2, "maximum": 1}, r"maximum \(1\) must be >= Backoff.initial \(2\)"),
        ({"multiplier": 0.5}, "multiplier must be >= 1"),
        ({"initial": float("nan")}, "initial must be finite"),
        ({"maximum": float("inf")}, "maximum must be finite"),
        ({"initial": "0.1"}, "initial must be a number"),
        ({"maximum": True}, "maximum must be a number"),
        ({"jitter": 1}, "jitter must be True or False"),
    ],
)
def test_invalid_values_are_rejected_by_name(kwargs: dict[str, object], message: str) -> None:
    """Out-of-range or mistyped values raise ConfigurationError naming the field."""
    with pytest.raises(ConfigurationError, match=message):
        Backoff(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("attempt", [0, -1, 1.5, True])
def test_attempt_must_be_a_positive_integer(attempt: int) -> None:
    """delay() rejects an attempt number below 1 or not an integer."""
    with pytest.raises(ValueError, match="attempt must be an integer >= 1"):
        Backoff().delay(attempt)


def test_is_frozen_and_keyword_only() -> None:
    """A Backoff cannot be changed after creation nor built positionally."""
    backoff = Backoff()
    with pytest.raises(AttributeError):
        backoff.initial = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        Backoff(1.0)  # type: ignore[misc]


async def test_waits_driven_by_a_backoff_are_skipped_in_testing_mode() -> None:
    """A poll loop that sleeps its Backoff's delays through resilience.sleep does not wait in testing()."""
    schedule = Backoff(initial=30, maximum=60, jitter=False)
    with testing() as mode:
        for pause in itertools.islice(schedule.delays(), 3):
            await sleep(pause)
    assert mode.sleeps == [30, 60, 60]


# -- RetryPolicy on Backoff -----------------------------------------------------------------
def test_retry_policy_waits_follow_its_backoff() -> None:
    """RetryPolicy.backoff(n) is its schedule's delay(n)."""
    policy = RetryPolicy(wait=Backoff(initial=0.25, maximum=1.0, jitter=False))
    assert [policy.backoff(n) for n in (0, 1, 2, 3, 4)] == [0.25, 0.25, 0.5, 1.0, 1.0]


def test_retry_policy_initial_and_max_wait_build_its_backoff() -> None:
    """initial_wait/max_wait are the short form of wait=Backoff(initial=..., maximum=...)."""
    policy = RetryPolicy(initial_wait=0.01, max_wait=0.2)
    assert (policy.wait, policy.initial_wait, policy.max_wait) == (
        Backoff(initial=0.01, maximum=0.2),
        0.01,
        0.2,
    )


def test_retry_policy_reads_its_schedule_back() -> None:
    """initial_wait/max_wait read the schedule given as wait=."""
    policy = RetryPolicy(wait=Backoff(initial=0.3, maximum=0.9))
    assert (policy.initial_wait, policy.max_wait) == (0.3, 0.9)


def test_retry_policy_rejects_both_spellings() -> None:
    """wait= together with a different initial_wait= is ambiguous and rejected."""
    with pytest.raises(ConfigurationError, match="not both"):
        RetryPolicy(wait=Backoff(initial=1), initial_wait=2)


@pytest.mark.parametrize(
    "policy",
    [
        RetryPolicy(),
        RetryPolicy(initial_wait=0.01, max_wait=0.2),
        RetryPolicy(wait=Backoff(initial=1)),
        RetryPolicy(wait=None),
    ],
)
def test_retry_policy_survives_dataclasses_replace(policy: RetryPolicy) -> None:
    """dataclasses.replace keeps the schedule while changing another field."""
    changed = dataclasses.replace(policy, attempts=7)
    assert (changed.attempts, changed.wait, changed.initial_wait, changed.max_wait) == (
        7,
        policy.wait,
        policy.initial_wait,
        policy.max_wait,
    )


async def test_retry_policy_without_wait_retries_at_once() -> None:
    """wait=None (or initial_wait=0) retries without waiting."""
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("down")
        return "ok"

    with testing() as mode:
        assert await RetryPolicy(wait=None).call(flaky) == "ok"
    assert (mode.sleeps, RetryPolicy(initial_wait=0).wait) == ([0.0, 0.0], None)


async def test_retry_policy_sleeps_its_backoff_delays() -> None:
    """The waits between attempts are the Backoff's delays, recorded by testing()."""
    calls = 0

    async def fail() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("down")

    policy = RetryPolicy(attempts=4, wait=Backoff(initial=1, maximum=3, jitter=False), total_timeout=None)
    with testing() as mode, pytest.raises(ConnectionError):
        await policy.call(fail)
    assert (calls, mode.sleeps) == (4, [1, 2, 3])
