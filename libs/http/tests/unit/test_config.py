"""Unit tests for the settings models."""

from __future__ import annotations

from pathlib import Path

import httpx
import pydantic
import pytest

from internal_base.resilience import BackoffSettings, BreakerSettings, ResilienceSettings, RetrySettings
from internal_http.config import (
    BreakerConfig,
    HttpResilienceSettings,
    HttpSettings,
    LimitsConfig,
    RetryConfig,
    TimeoutConfig,
)


def test_defaults_are_safe() -> None:
    """Defaults retry 3 times, only idempotent methods, on 429/502/503/504."""
    retry = RetryConfig()
    assert retry.attempts == 3
    assert retry.statuses == frozenset({429, 502, 503, 504})
    assert "POST" not in retry.methods
    assert "PATCH" not in retry.methods
    assert retry.methods >= {"GET", "HEAD", "PUT", "DELETE"}
    assert retry.retry_non_idempotent is False


def test_timeout_converts_per_phase() -> None:
    """TimeoutConfig maps every phase onto httpx.Timeout."""
    timeout = TimeoutConfig(connect=1.5, read=2.5, write=3.5, pool=None).to_httpx()
    assert timeout == httpx.Timeout(connect=1.5, read=2.5, write=3.5, pool=None)


def test_limits_convert() -> None:
    """LimitsConfig maps onto httpx.Limits."""
    limits = LimitsConfig(max_connections=7, max_keepalive_connections=3, keepalive_expiry=1.0).to_httpx()
    assert limits == httpx.Limits(max_connections=7, max_keepalive_connections=3, keepalive_expiry=1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attempts": 0}, "greater than or equal to 1"),
        ({"backoff": {"initial": 2.0, "maximum": 1.0}}, r"maximum \(1.0\) must be >= initial \(2.0\)"),
        ({"statuses": frozenset({999})}, "not HTTP status codes"),
        ({"total_timeout": 0}, "greater than 0"),
        ({"unknown": 1}, "Extra inputs are not permitted"),
    ],
)
def test_retry_config_validated_on_construction(kwargs: dict[str, object], message: str) -> None:
    """Invalid retry settings fail when the model is built."""
    with pytest.raises(pydantic.ValidationError, match=message):
        RetryConfig(**kwargs)


def test_custom_statuses_accepted() -> None:
    """Valid custom statuses are kept as given."""
    assert RetryConfig(statuses=frozenset({500, 503})).statuses == frozenset({500, 503})


def test_methods_are_upper_cased() -> None:
    """Method names are normalised to upper case."""
    assert RetryConfig(methods=frozenset({"get", "Post"})).methods == frozenset({"GET", "POST"})


def test_models_are_frozen() -> None:
    """Config models cannot be mutated after construction."""
    config = TimeoutConfig()
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        config.read = 1.0


def test_timeout_rejects_non_positive() -> None:
    """A zero timeout is rejected (use None to disable a phase)."""
    with pytest.raises(pydantic.ValidationError, match="greater than 0"):
        TimeoutConfig(read=0)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """COMMONS_HTTP_* variables (with __ for nesting) configure the settings."""
    monkeypatch.setenv("COMMONS_HTTP_BASE_URL", "https://api.example.com")
    monkeypatch.setenv("COMMONS_HTTP_RESILIENCE__RETRY__ATTEMPTS", "5")
    monkeypatch.setenv("COMMONS_HTTP_RESILIENCE__BREAKER__RESET_TIMEOUT", "2.5")
    monkeypatch.setenv("COMMONS_HTTP_TIMEOUT__READ", "12.5")
    monkeypatch.setenv("COMMONS_HTTP_HTTP2", "true")
    settings = HttpSettings()
    assert settings.base_url == "https://api.example.com"
    assert settings.resilience.retry.attempts == 5
    assert settings.resilience.breaker.reset_timeout == 2.5
    assert settings.timeout.read == 12.5
    assert settings.http2 is True


def test_settings_section_and_defaults() -> None:
    """The YAML section is "http" and nested defaults are present."""
    settings = HttpSettings()
    assert HttpSettings.yaml_section == "http"
    assert settings.resilience.breaker == BreakerConfig()
    assert settings.health_check is True
    assert settings.limits.max_connections == 100
    assert settings.headers == {}


def test_base_url_must_be_http() -> None:
    """A base URL without an http(s) scheme is rejected without echoing the input."""
    with pytest.raises(pydantic.ValidationError, match="must start with http") as info:
        HttpSettings(base_url="ftp://user:hunter2@example.com")
    assert "hunter2" not in str(info.value)


def test_settings_repr_hides_secrets() -> None:
    """The settings repr masks credentials in default headers and the base URL."""
    settings = HttpSettings(
        base_url="https://user:hunter2@example.com",
        headers={"Authorization": "Bearer s3cr3t-token", "Accept": "application/json"},
    )
    text = repr(settings)
    assert "hunter2" not in text
    assert "s3cr3t-token" not in text
    assert "application/json" in text


def test_resilience_is_the_base_section() -> None:
    """The resilience section and its retry/breaker parts are internal_base's sections (HTTP flavour)."""
    resilience = HttpSettings().resilience
    assert isinstance(resilience, ResilienceSettings)
    assert isinstance(resilience.retry, RetrySettings)
    assert isinstance(resilience.breaker, BreakerSettings)


def test_resilience_defaults() -> None:
    """Defaults: 3 attempts in 30 s, 0.1-5 s jittered backoff, breaker of 5 calls reset after 5 s."""
    resilience = HttpResilienceSettings()
    retry, breaker = resilience.retry, resilience.breaker
    assert (retry.attempts, retry.total_timeout, retry.retry_after_cap) == (3, 30.0, 60.0)
    assert retry.backoff == BackoffSettings(initial=0.1, maximum=5.0, multiplier=2.0, jitter=True)
    assert (breaker.failure_threshold, breaker.reset_timeout, breaker.half_open_probes) == (5, 5.0, 1)
    assert resilience.timeout is None


@pytest.mark.parametrize("key", ["retry", "breaker"])
def test_moved_top_level_keys_are_refused(key: str) -> None:
    """The first shape's top-level retry/breaker keys fail, naming their new place."""
    with pytest.raises(pydantic.ValidationError, match=f"{key} -> resilience.{key}"):
        HttpSettings.model_validate({key: {}})


def test_load_reads_the_yaml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With only COMMONS_CONFIG_FILE set, HttpSettings.load() reads the http: section of the file."""
    config = tmp_path / "service.yaml"
    config.write_text(
        "http:\n  base_url: https://orders.internal\n"
        "  resilience:\n    retry:\n      attempts: 4\n      statuses: [503]\n"
        "    breaker:\n      reset_timeout: 2\n"
    )
    monkeypatch.setenv("COMMONS_CONFIG_FILE", str(config))
    settings = HttpSettings.load()
    resilience = settings.resilience
    assert settings.base_url == "https://orders.internal"
    assert (resilience.retry.attempts, resilience.retry.statuses) == (4, frozenset({503}))
    assert resilience.breaker.reset_timeout == 2.0
