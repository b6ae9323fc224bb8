"""Tests for ``ResilienceSettings`` (retry, breaker and timeout sections) and the policy it builds."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from internal_base.errors import CircuitOpenError, ConfigurationError
from internal_base.resilience import Backoff, ResilienceSettings, RetrySettings, testing
from internal_base.settings import LibrarySettings


class ServiceSettings(LibrarySettings):
    """A library's settings with a resilience section."""

    model_config = SettingsConfigDict(env_prefix="COMMONS_SVC_")
    yaml_section: ClassVar[str] = "svc"

    resilience: ResilienceSettings = ResilienceSettings()


class Unreachable(ConnectionError):
    """The dependency does not answer."""


class Missing(LookupError):
    """The dependency answered: not found."""


def test_defaults_fit_a_service() -> None:
    """3 attempts within 30 s, 0.1-5 s jittered waits, breaker at 5 failures, 5 s reset, one probe."""
    settings = ResilienceSettings()
    assert settings.model_dump() == {
        "timeout": None,
        "retry": {
            "attempts": 3,
            "total_timeout": 30.0,
            "backoff": {"initial": 0.1, "maximum": 5.0, "multiplier": 2.0, "jitter": True},
        },
        "breaker": {"failure_threshold": 5, "reset_timeout": 5.0, "half_open_probes": 1},
    }


def test_to_policy_carries_every_section() -> None:
    """Each setting reaches the timeout, the RetryPolicy and the CircuitBreaker it configures."""
    settings = ResilienceSettings.model_validate(
        {
            "timeout": 2,
            "retry": {
                "attempts": 4,
                "total_timeout": 9,
                "backoff": {"initial": 0.2, "maximum": 1, "jitter": False},
            },
            "breaker": {"failure_threshold": 3, "reset_timeout": 7, "half_open_probes": 2},
        }
    )
    policy = settings.to_policy(
        "payments", retry_on=(Unreachable,), failure_on=(Unreachable,), excluded=(Missing,)
    )
    assert policy.retry is not None
    assert policy.breaker is not None
    retry, breaker = policy.retry, policy.breaker
    assert (policy.timeout, retry.attempts, retry.total_timeout, retry.retry_on, retry.name) == (
        2,
        4,
        9,
        (Unreachable,),
        "payments",
    )
    assert retry.wait == Backoff(initial=0.2, maximum=1, jitter=False)
    assert (breaker.name, breaker.failure_threshold, breaker.reset_timeout, breaker.half_open_probes) == (
        "payments",
        3,
        7,
        2,
    )
    assert (breaker.failure_on, breaker.excluded) == ((Unreachable,), (Missing,))


def test_one_attempt_and_threshold_zero_disable_retry_and_breaker() -> None:
    """retry.attempts=1 and breaker.failure_threshold=0 build a policy without retry or breaker."""
    settings = ResilienceSettings.model_validate(
        {"retry": {"attempts": 1}, "breaker": {"failure_threshold": 0}}
    )
    policy = settings.to_policy("x")
    assert (policy.retry, policy.breaker) == (None, None)


@pytest.mark.parametrize(
    ("data", "location"),
    [
        ({"atempts": 3}, "atempts"),
        ({"retry": {"attempts": 0}}, "retry.attempts"),
        ({"retry": {"total_timeout": 0}}, "retry.total_timeout"),
        ({"retry": {"backoff": {"initial": 0}}}, "retry.backoff.initial"),
        ({"retry": {"backoff": {"initial": 2, "maximum": 1}}}, "maximum \\(1.0\\) must be >= initial"),
        ({"retry": {"backoff": {"multiplier": 0.5}}}, "retry.backoff.multiplier"),
        ({"breaker": {"reset_timeout": 0}}, "breaker.reset_timeout"),
        ({"breaker": {"half_open_probes": 0}}, "breaker.half_open_probes"),
        ({"breaker": {"resettimeout": 1}}, "breaker.resettimeout"),
        ({"timeout": float("inf")}, "timeout"),
    ],
)
def test_invalid_settings_name_the_field(data: dict[str, object], location: str) -> None:
    """A misspelt key or an out-of-range value is a validation error naming it."""
    with pytest.raises(ValidationError, match=location):
        ResilienceSettings.model_validate(data)


@pytest.mark.parametrize(
    ("key", "place"),
    [
        ("attempts", "retry.attempts"),
        ("total_timeout", "retry.total_timeout"),
        ("initial_wait", "retry.backoff.initial"),
        ("max_wait", "retry.backoff.maximum"),
        ("failure_threshold", "breaker.failure_threshold"),
        ("reset_timeout", "breaker.reset_timeout"),
    ],
)
def test_flat_keys_of_the_first_shape_are_refused_naming_their_section(key: str, place: str) -> None:
    """The sections are the only form: a flat key fails validation and says where it lives now."""
    with pytest.raises(ValidationError, match=f"nest them: {key} -> {place}"):
        ResilienceSettings.model_validate({key: 2, "retry": {"attempts": 3}})


def test_flat_keys_are_refused_from_yaml_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``COMMONS_SVC_RESILIENCE__ATTEMPTS`` is not silently ignored: loading fails naming the key."""
    monkeypatch.setenv("COMMONS_SVC_RESILIENCE__ATTEMPTS", "4")
    with pytest.raises(ConfigurationError, match="attempts -> retry.attempts"):
        ServiceSettings.load(yaml_file=None)


def test_env_names_reach_the_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    """COMMONS_<LIB>_RESILIENCE__BREAKER__RESET_TIMEOUT and friends set the nested values."""
    monkeypatch.setenv("COMMONS_SVC_RESILIENCE__BREAKER__RESET_TIMEOUT", "10")
    monkeypatch.setenv("COMMONS_SVC_RESILIENCE__RETRY__BACKOFF__MAXIMUM", "2.5")
    monkeypatch.setenv("COMMONS_SVC_RESILIENCE__TIMEOUT", "1.5")
    resilience = ServiceSettings.load(yaml_file=None).resilience
    assert (resilience.breaker.reset_timeout, resilience.retry.backoff.maximum, resilience.timeout) == (
        10,
        2.5,
        1.5,
    )


def test_yaml_section_reaches_the_sections(tmp_path: Path) -> None:
    """A library's YAML resilience section configures retry and breaker."""
    config = tmp_path / "app.yaml"
    config.write_text("svc:\n  resilience:\n    retry: {attempts: 5}\n    breaker: {half_open_probes: 2}\n")
    resilience = ServiceSettings.load(yaml_file=config).resilience
    assert (resilience.retry.attempts, resilience.breaker.half_open_probes) == (5, 2)


def test_yaml_typo_in_a_section_is_an_error(tmp_path: Path) -> None:
    """A misspelt key inside a resilience section is reported with its path."""
    config = tmp_path / "app.yaml"
    config.write_text("svc:\n  resilience:\n    breaker: {reset_timout: 3}\n")
    with pytest.raises(ConfigurationError, match="reset_timout"):
        ServiceSettings.load(yaml_file=config)


# -- the policy built from settings ---------------------------------------------------------
async def test_a_retried_call_counts_once_toward_the_breaker() -> None:
    """Three attempts that all fail are one failure on the breaker."""
    calls = 0

    async def dead() -> None:
        nonlocal calls
        calls += 1
        raise Unreachable("connection refused")

    policy = ResilienceSettings.model_validate({"retry": {"attempts": 3}}).to_policy("db")
    assert policy.breaker is not None
    with testing(), pytest.raises(Unreachable):
        await policy.run(dead)
    assert (calls, policy.breaker.failure_count, policy.breaker.state) == (3, 1, "closed")


async def test_dead_host_opens_the_breaker_on_the_threshold_th_logical_call() -> None:
    """With threshold 2, a dead host opens the breaker on the 2nd logical call, not the 1st."""

    async def dead() -> None:
        raise Unreachable("connection refused")

    settings = ResilienceSettings.model_validate(
        {"retry": {"attempts": 3}, "breaker": {"failure_threshold": 2}}
    )
    policy = settings.to_policy("db")
    assert policy.breaker is not None
    states = []
    with testing():
        for _ in range(2):
            with pytest.raises(Unreachable):
                await policy.run(dead)
            states.append(policy.breaker.state)
    assert states == ["closed", "open"]


async def test_open_breaker_fails_fast_with_retry_after() -> None:
    """An open circuit raises CircuitOpenError without calling, retry_after = seconds until the probe."""
    calls = 0

    async def dead() -> None:
        nonlocal calls
        calls += 1
        raise Unreachable("connection refused")

    settings = ResilienceSettings.model_validate(
        {"retry": {"attempts": 1}, "breaker": {"failure_threshold": 1, "reset_timeout": 60}}
    )
    policy = settings.to_policy("db")
    with pytest.raises(Unreachable):
        await policy.run(dead)
    with pytest.raises(CircuitOpenError) as caught:
        await policy.run(dead)
    assert calls == 1
    assert caught.value.retry_after is not None
    assert 30 < caught.value.retry_after <= 60


async def test_errors_outside_failure_on_do_not_open_the_breaker() -> None:
    """Only failure_on exceptions count; others (the dependency answered) leave it closed."""

    async def missing() -> None:
        raise Missing("no such row")

    settings = ResilienceSettings.model_validate({"breaker": {"failure_threshold": 1}})
    policy = settings.to_policy("db", failure_on=(Unreachable,))
    assert policy.breaker is not None
    for _ in range(3):
        with pytest.raises(Missing):
            await policy.run(missing)
    assert policy.breaker.state == "closed"


def test_constructor_takes_sections_as_models_or_dicts() -> None:
    """Keyword construction accepts section models and dicts (type-checked too)."""
    settings = ResilienceSettings(retry=RetrySettings(attempts=2), breaker={"reset_timeout": 9}, timeout=1)
    assert (settings.retry.attempts, settings.breaker.reset_timeout, settings.timeout) == (2, 9, 1)
