"""CacheSettings: defaults, environment, YAML, validation and secret masking."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from internal_cache import CacheSettings
from internal_cache._config import CONNECTION_ERRORS

SECRET = "hunter2-very-secret"


def test_defaults() -> None:
    """Defaults point at a local server with a bounded pool and timeouts."""
    settings = CacheSettings()
    assert settings.url.get_secret_value() == "redis://localhost:6379/0"
    assert settings.key_prefix == ""
    assert settings.max_connections == 50
    assert settings.socket_timeout == 5.0
    assert settings.default_ttl is None
    assert settings.health_check_name == "redis"


def test_env_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    """COMMONS_CACHE_* environment variables configure the settings."""
    monkeypatch.setenv("COMMONS_CACHE_URL", f"redis://:{SECRET}@cache.internal:6380/2")
    monkeypatch.setenv("COMMONS_CACHE_KEY_PREFIX", "svc:")
    monkeypatch.setenv("COMMONS_CACHE_MAX_CONNECTIONS", "7")
    settings = CacheSettings()
    assert settings.url.get_secret_value().endswith("@cache.internal:6380/2")
    assert settings.key_prefix == "svc:"
    assert settings.max_connections == 7


def test_yaml_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load() reads the ``cache`` YAML section with ${VAR:-default} substitution."""
    monkeypatch.delenv("COMMONS_CACHE_KEY_PREFIX", raising=False)
    config = tmp_path / "config.yaml"
    config.write_text(
        "cache:\n  url: redis://h:6379/3\n  key_prefix: ${CACHE_TEST_PREFIX:-yaml:}\n  default_ttl: 30\n"
    )
    settings = CacheSettings.load(yaml_file=config)
    assert settings.url.get_secret_value() == "redis://h:6379/3"
    assert settings.key_prefix == "yaml:"
    assert settings.default_ttl == 30.0


def test_password_masked_in_repr_and_redacted_url() -> None:
    """The password never appears in repr/str, only masked in redacted_url."""
    settings = CacheSettings(url=SecretStr(f"redis://user:{SECRET}@h:6379/0"))
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert SECRET not in settings.redacted_url
    assert settings.redacted_url.startswith("redis://user:")
    assert "***" in settings.redacted_url


def test_bad_scheme_error_hides_password() -> None:
    """A wrong URL scheme is rejected without echoing the password."""
    with pytest.raises(ValidationError) as info:
        CacheSettings(url=SecretStr(f"http://user:{SECRET}@h/0"))
    message = str(info.value)
    assert "cache url must use one of" in message
    assert SECRET not in message


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_connections", 0), ("socket_timeout", 0), ("default_ttl", -1), ("retry_attempts", 0)],
)
def test_invalid_values_rejected(field: str, value: float) -> None:
    """Out-of-range numbers fail validation."""
    with pytest.raises(ValidationError, match=field):
        CacheSettings(**{field: value})  # type: ignore[arg-type]


def test_retry_policy_from_settings() -> None:
    """retry_policy() carries the reconnection window and retries only connection errors."""
    settings = CacheSettings(
        retry_attempts=4, retry_initial_wait=0.01, retry_max_wait=0.2, retry_total_timeout=3
    )
    policy = settings.retry_policy()
    assert policy.attempts == 4
    assert policy.initial_wait == 0.01
    assert policy.max_wait == 0.2
    assert policy.total_timeout == 3
    assert policy.retry_on == CONNECTION_ERRORS


def test_unix_and_tls_schemes_accepted() -> None:
    """rediss:// and unix:// URLs validate."""
    assert CacheSettings(url=SecretStr("rediss://h:6380/0")).redacted_url == "rediss://h:6380/0"
    assert CacheSettings(url=SecretStr("unix:///tmp/redis.sock")).url.get_secret_value().startswith("unix://")


def test_resilience_defaults() -> None:
    """Window 10 s without an attempt cap; breaker probes after 2 s; idle connections close after 60 s."""
    settings = CacheSettings()
    assert settings.retry_total_timeout == 10.0
    assert settings.retry_attempts is None
    assert settings.retry_policy().attempts > 10**6
    assert settings.pool_idle_timeout == 60.0
    breaker = settings.breaker("x")
    assert (breaker.name, breaker.failure_threshold, breaker.reset_timeout) == ("x", 1, 2.0)


def test_resilience_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pool idle timeout and breaker settings come from COMMONS_CACHE_* too."""
    monkeypatch.setenv("COMMONS_CACHE_POOL_IDLE_TIMEOUT", "5")
    monkeypatch.setenv("COMMONS_CACHE_BREAKER_RESET_TIMEOUT", "0.5")
    monkeypatch.setenv("COMMONS_CACHE_RETRY_ATTEMPTS", "7")
    settings = CacheSettings()
    assert settings.pool_idle_timeout == 5.0
    assert settings.breaker().reset_timeout == 0.5
    assert settings.retry_policy().attempts == 7


@pytest.mark.parametrize(
    ("field", "value"),
    [("pool_idle_timeout", -1), ("breaker_failure_threshold", 0), ("breaker_reset_timeout", -1)],
)
def test_invalid_resilience_values_rejected(field: str, value: float) -> None:
    """Negative idle timeouts and breaker settings fail validation, naming the field."""
    with pytest.raises(ValidationError, match=field):
        CacheSettings(**{field: value})  # type: ignore[arg-type]
