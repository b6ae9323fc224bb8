"""CacheSettings: defaults, environment, YAML, validation and secret masking."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from internal_base.errors import ConfigurationError
from internal_base.resilience import ResilienceSettings
from internal_cache import CacheSettings
from internal_cache._connection import CONNECTION_ERRORS

SECRET = "hunter2-very-secret"


def test_defaults() -> None:
    """Defaults point at a local server with a bounded pool and timeouts."""
    settings = CacheSettings()
    assert settings.url.get_secret_value() == "redis://localhost:6379/0"
    assert settings.key_prefix == ""
    assert settings.max_connections == 50
    assert settings.socket_connect_timeout == 2.0
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
    [("max_connections", 0), ("pool_timeout", 0), ("default_ttl", -1), ("pool_idle_timeout", -1)],
)
def test_invalid_values_rejected(field: str, value: float) -> None:
    """Out-of-range numbers fail validation."""
    with pytest.raises(ValidationError, match=field):
        CacheSettings(**{field: value})  # type: ignore[arg-type]


def test_unix_and_tls_schemes_accepted() -> None:
    """rediss:// and unix:// URLs validate."""
    assert CacheSettings(url=SecretStr("rediss://h:6380/0")).redacted_url == "rediss://h:6380/0"
    assert CacheSettings(url=SecretStr("unix:///tmp/redis.sock")).url.get_secret_value().startswith("unix://")


def test_resilience_defaults() -> None:
    """A 10 s window with short backoff, a breaker probing after 2 s, 5 s per attempt, 60 s idle pool."""
    settings = CacheSettings()
    resilience = settings.resilience
    assert (resilience.retry.total_timeout, resilience.retry.attempts) == (10.0, 1000)
    assert (resilience.retry.backoff.initial, resilience.retry.backoff.maximum) == (0.05, 1.0)
    assert (resilience.breaker.failure_threshold, resilience.breaker.reset_timeout) == (1, 2.0)
    assert resilience.timeout == 5.0
    assert settings.pool_idle_timeout == 60.0
    assert settings.health_check is True


def test_resilience_is_base_section() -> None:
    """The resilience section is internal_base's ResilienceSettings and builds its policy."""
    settings = CacheSettings()
    assert isinstance(settings.resilience, ResilienceSettings)
    policy = settings.resilience.to_policy("x", retry_on=CONNECTION_ERRORS)
    assert policy.retry is not None
    assert (policy.retry.total_timeout, policy.retry.retry_on) == (10.0, CONNECTION_ERRORS)
    assert policy.breaker is not None
    assert (policy.breaker.name, policy.breaker.failure_threshold, policy.breaker.reset_timeout) == (
        "x",
        1,
        2.0,
    )


def test_resilience_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nested COMMONS_CACHE_RESILIENCE__* variables set one key and keep the cache's other defaults."""
    monkeypatch.setenv("COMMONS_CACHE_POOL_IDLE_TIMEOUT", "5")
    monkeypatch.setenv("COMMONS_CACHE_RESILIENCE__BREAKER__RESET_TIMEOUT", "0.5")
    monkeypatch.setenv("COMMONS_CACHE_RESILIENCE__RETRY__ATTEMPTS", "7")
    monkeypatch.setenv("COMMONS_CACHE_RESILIENCE__RETRY__BACKOFF__INITIAL", "0.2")
    settings = CacheSettings.load()
    assert settings.pool_idle_timeout == 5.0
    assert settings.resilience.breaker.reset_timeout == 0.5
    assert settings.resilience.breaker.failure_threshold == 1
    assert settings.resilience.retry.attempts == 7
    assert settings.resilience.retry.total_timeout == 10.0
    assert (settings.resilience.retry.backoff.initial, settings.resilience.retry.backoff.maximum) == (
        0.2,
        1.0,
    )


def test_resilience_from_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache: resilience: YAML section sets the window and the breaker."""
    config = tmp_path / "config.yaml"
    config.write_text(
        "cache:\n  resilience:\n    timeout: 1.5\n"
        "    retry: {total_timeout: 3}\n    breaker: {reset_timeout: 1}\n"
    )
    monkeypatch.setenv("COMMONS_CONFIG_FILE", str(config))
    resilience = CacheSettings.load().resilience
    assert (resilience.timeout, resilience.retry.total_timeout, resilience.breaker.reset_timeout) == (
        1.5,
        3,
        1,
    )


@pytest.mark.parametrize(
    "key",
    [
        "retry_attempts",
        "retry_total_timeout",
        "breaker_reset_timeout",
        "breaker_failure_threshold",
        "socket_timeout",
    ],
)
def test_moved_keys_rejected_by_load(key: str) -> None:
    """The flat keys that moved into the resilience section are refused by load(), naming the key."""
    with pytest.raises(ConfigurationError, match=key):
        CacheSettings.load(**{key: 1})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("section", "value"),
    [
        ({"breaker": {"reset_timeout": 0}}, "reset_timeout"),
        ({"breaker": {"failure_threshold": -1}}, "failure_threshold"),
        ({"retry": {"total_timeout": -1}}, "total_timeout"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_invalid_resilience_values_rejected(section: dict[str, object], value: str) -> None:
    """Out-of-range resilience values fail validation, naming the field."""
    with pytest.raises(ValidationError, match=value):
        CacheSettings(resilience=section)
