"""Unit tests for the settings models."""

from __future__ import annotations

import httpx
import pydantic
import pytest

from internal_http import BreakerConfig, HttpClientSettings, LimitsConfig, RetryConfig, TimeoutConfig


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
        ({"initial_wait": 2.0, "max_wait": 1.0}, "initial_wait must not exceed max_wait"),
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
    monkeypatch.setenv("COMMONS_HTTP_RETRY__ATTEMPTS", "5")
    monkeypatch.setenv("COMMONS_HTTP_TIMEOUT__READ", "12.5")
    monkeypatch.setenv("COMMONS_HTTP_HTTP2", "true")
    settings = HttpClientSettings()
    assert settings.base_url == "https://api.example.com"
    assert settings.retry.attempts == 5
    assert settings.timeout.read == 12.5
    assert settings.http2 is True


def test_settings_section_and_defaults() -> None:
    """The YAML section is "http" and nested defaults are present."""
    settings = HttpClientSettings()
    assert HttpClientSettings.yaml_section == "http"
    assert settings.breaker == BreakerConfig()
    assert settings.limits.max_connections == 100
    assert settings.headers == {}


def test_base_url_must_be_http() -> None:
    """A base URL without an http(s) scheme is rejected without echoing the input."""
    with pytest.raises(pydantic.ValidationError, match="must start with http") as info:
        HttpClientSettings(base_url="ftp://user:hunter2@example.com")
    assert "hunter2" not in str(info.value)


def test_settings_repr_hides_secrets() -> None:
    """The settings repr masks credentials in default headers and the base URL."""
    settings = HttpClientSettings(
        base_url="https://user:hunter2@example.com",
        headers={"Authorization": "Bearer s3cr3t-token", "Accept": "application/json"},
    )
    text = repr(settings)
    assert "hunter2" not in text
    assert "s3cr3t-token" not in text
    assert "application/json" in text
