"""Settings of the Redis client (env prefix ``COMMONS_CACHE_``, YAML section ``cache``)."""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

import redis.exceptions
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from internal_base.redaction import redact_url
from internal_base.resilience import CircuitBreaker, RetryPolicy
from internal_base.settings import LibrarySettings

__all__ = ["CONNECTION_ERRORS", "UNCAPPED", "CacheSettings"]

_SCHEMES = frozenset({"redis", "rediss", "unix"})

#: Errors that mean "the server is unreachable or the connection broke"; only these are
#: retried. ``OSError`` covers the builtin ``ConnectionError``/``TimeoutError``.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
)

#: ``RetryPolicy.attempts`` meaning "no cap": the reconnection window alone bounds retries.
UNCAPPED: int = 2**31 - 1


class CacheSettings(LibrarySettings):
    """Connection, pool, timeout, retry and TTL settings of a :class:`CacheClient`.

    The URL is a :class:`~pydantic.SecretStr`: reprs, logs and errors only ever
    show :attr:`redacted_url` (password masked).
    """

    model_config = SettingsConfigDict(env_prefix="COMMONS_CACHE_", hide_input_in_errors=True)
    yaml_section: ClassVar[str] = "cache"

    url: SecretStr = Field(
        default=SecretStr("redis://localhost:6379/0"),
        description="redis://, rediss:// or unix:// URL; may carry a password.",
    )
    key_prefix: str = Field(default="", description="Prepended to every key the client sends.")
    default_ttl: float | None = Field(
        default=None, gt=0, description="Seconds; applied by set() when no ttl is given."
    )
    max_connections: int = Field(default=50, ge=1, description="Pool size.")
    pool_idle_timeout: float = Field(
        default=60.0,
        ge=0,
        description="Seconds an unused pooled connection stays open before it is closed (0 = never).",
    )
    pool_timeout: float = Field(
        default=5.0, gt=0, description="Seconds to wait for a free connection when all are busy."
    )
    socket_timeout: float = Field(default=5.0, gt=0, description="Seconds per command.")
    socket_connect_timeout: float = Field(default=2.0, gt=0, description="Seconds per connect.")
    health_check_interval: float = Field(
        default=15.0, ge=0, description="PING connections idle longer than this (0 = never)."
    )
    retry_attempts: int | None = Field(
        default=None,
        ge=1,
        description="Optional cap on attempts per call; by default only the window bounds them.",
    )
    retry_initial_wait: float = Field(default=0.05, ge=0, description="First backoff, seconds.")
    retry_max_wait: float = Field(default=1.0, ge=0, description="Backoff cap, seconds.")
    retry_total_timeout: float | None = Field(
        default=10.0,
        gt=0,
        description="Reconnection window: seconds a call keeps reconnecting before giving up.",
    )
    breaker_failure_threshold: int = Field(
        default=1, ge=1, description="Calls that used up their window before the circuit opens."
    )
    breaker_reset_timeout: float = Field(
        default=2.0, ge=0, description="Seconds the open circuit fails calls fast before one probe."
    )
    health_check_name: str = Field(default="redis", min_length=1, description="Name in the health registry.")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        scheme = urlsplit(raw).scheme
        if scheme not in _SCHEMES:
            raise ValueError(f"cache url must use one of {sorted(_SCHEMES)}, got {redact_url(raw)!r}")
        return value

    @property
    def redacted_url(self) -> str:
        """The URL with its password masked; safe for logs and errors."""
        return redact_url(self.url.get_secret_value())

    def breaker(self, name: str = "cache") -> CircuitBreaker:
        """A circuit breaker for the connection (opened by calls that used up their window)."""
        return CircuitBreaker(
            name, failure_threshold=self.breaker_failure_threshold, reset_timeout=self.breaker_reset_timeout
        )

    def retry_policy(self) -> RetryPolicy:
        """The reconnection policy: only connection errors are retried."""
        return RetryPolicy(
            attempts=UNCAPPED if self.retry_attempts is None else self.retry_attempts,
            initial_wait=self.retry_initial_wait,
            max_wait=self.retry_max_wait,
            total_timeout=self.retry_total_timeout,
            retry_on=CONNECTION_ERRORS,
            name="cache",
        )
