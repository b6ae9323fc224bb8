"""Typed settings for the HTTP client factory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from internal_base.redaction import redact_headers, redact_url
from internal_base.settings import LibrarySettings

__all__ = [
    "DEFAULT_RETRY_METHODS",
    "DEFAULT_RETRY_STATUSES",
    "BreakerConfig",
    "HttpClientSettings",
    "LimitsConfig",
    "RetryConfig",
    "TimeoutConfig",
]

DEFAULT_RETRY_METHODS: frozenset[str] = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
DEFAULT_RETRY_STATUSES: frozenset[int] = frozenset({429, 502, 503, 504})

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class TimeoutConfig(BaseModel):
    """Per-phase timeouts in seconds (``None`` disables a phase's timeout)."""

    model_config = _FROZEN

    connect: float | None = Field(default=5.0, gt=0)
    read: float | None = Field(default=30.0, gt=0)
    write: float | None = Field(default=30.0, gt=0)
    pool: float | None = Field(default=5.0, gt=0)

    def to_httpx(self) -> httpx.Timeout:
        """Return the equivalent ``httpx.Timeout``."""
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)


class LimitsConfig(BaseModel):
    """Connection-pool limits."""

    model_config = _FROZEN

    max_connections: int | None = Field(default=100, ge=1)
    max_keepalive_connections: int | None = Field(default=20, ge=0)
    keepalive_expiry: float | None = Field(default=5.0, ge=0)

    def to_httpx(self) -> httpx.Limits:
        """Return the equivalent ``httpx.Limits``."""
        return httpx.Limits(
            max_connections=self.max_connections,
            max_keepalive_connections=self.max_keepalive_connections,
            keepalive_expiry=self.keepalive_expiry,
        )


class RetryConfig(BaseModel):
    """When and how long the transport retries.

    Attributes:
        attempts: Total attempts including the first one (1 disables retries).
        initial_wait: Base of the exponential backoff (full jitter) in seconds.
        max_wait: Upper bound of a single backoff wait.
        total_timeout: Budget for all attempts and waits; ``None`` = attempts only.
        retry_after_cap: Longest ``Retry-After`` honoured; longer values are cut (and logged).
        statuses: Response statuses that are retried.
        methods: Methods retried without an ``Idempotency-Key``.
        retry_non_idempotent: Retry every method (caller asserts the API is idempotent).
    """

    model_config = _FROZEN

    attempts: int = Field(default=3, ge=1, le=100)
    initial_wait: float = Field(default=0.1, ge=0)
    max_wait: float = Field(default=5.0, ge=0)
    total_timeout: float | None = Field(default=30.0, gt=0)
    retry_after_cap: float = Field(default=60.0, ge=0)
    statuses: frozenset[int] = DEFAULT_RETRY_STATUSES
    methods: frozenset[str] = DEFAULT_RETRY_METHODS
    retry_non_idempotent: bool = False

    @field_validator("methods")
    @classmethod
    def _upper_methods(cls, value: frozenset[str]) -> frozenset[str]:
        return frozenset(method.upper() for method in value)

    @field_validator("statuses")
    @classmethod
    def _valid_statuses(cls, value: frozenset[int]) -> frozenset[int]:
        bad = sorted(code for code in value if not 100 <= code <= 599)
        if bad:
            raise ValueError(f"not HTTP status codes: {bad}")
        return value

    @model_validator(mode="after")
    def _wait_order(self) -> RetryConfig:
        if self.initial_wait > self.max_wait:
            raise ValueError("initial_wait must not exceed max_wait")
        return self


class BreakerConfig(BaseModel):
    """Per-host circuit breaker settings.

    Attributes:
        enabled: Give each scheme/host/port a breaker.
        failure_threshold: Consecutive failed calls (a call counts once, however many
            attempts it took) that open the host's breaker.
        reset_timeout: Seconds an open breaker rejects calls before it lets one probe call
            through; a successful probe closes it. Short by default so that a restarted
            service is used again within seconds; raise it for a dependency that is slow to
            recover or expensive to probe.
    """

    model_config = _FROZEN

    enabled: bool = True
    failure_threshold: int = Field(default=5, ge=1)
    reset_timeout: float = Field(default=5.0, gt=0)


class HttpClientSettings(LibrarySettings):
    """Settings of :func:`internal_http.create_client` (env prefix ``COMMONS_HTTP_``, YAML ``http``).

    Nested values use ``__`` in the environment, e.g. ``COMMONS_HTTP_RETRY__ATTEMPTS=5``.
    """

    model_config = SettingsConfigDict(
        env_prefix="COMMONS_HTTP_", env_nested_delimiter="__", hide_input_in_errors=True
    )
    yaml_section: ClassVar[str] = "http"

    base_url: str = ""
    timeout: TimeoutConfig = TimeoutConfig()
    limits: LimitsConfig = LimitsConfig()
    retry: RetryConfig = RetryConfig()
    breaker: BreakerConfig = BreakerConfig()
    headers: dict[str, str] = Field(default_factory=dict)
    http2: bool = False
    follow_redirects: bool = False
    verify: bool = True
    log_headers: bool = False

    @field_validator("base_url")
    @classmethod
    def _http_base_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Yield repr fields with the base URL's and default headers' secrets masked."""
        for name, value in super().__repr_args__():
            if name == "base_url":
                yield name, redact_url(value)
            elif name == "headers":
                yield name, redact_headers(value)
            else:
                yield name, value
