"""Settings of the Redis client (env prefix ``COMMONS_CACHE_``, YAML section ``cache``).

The ``resilience`` section is internal_base's ``ResilienceSettings`` with the cache's defaults:
a reconnection window of 10 s (``retry.total_timeout``) with short backoff, a breaker that opens
on the first call that used up its window and probes after 2 s, and a 5 s timeout per attempt
(redis-py's socket timeout). Nested keys use ``__`` in the environment, e.g.
``COMMONS_CACHE_RESILIENCE__BREAKER__RESET_TIMEOUT=1``.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from internal_base.redaction import redact_url
from internal_base.resilience import BackoffSettings, BreakerSettings, ResilienceSettings, RetrySettings
from internal_base.settings import LibrarySettings
from internal_cache._topology import SCHEMES, Mode, mode_of, parse_topology

__all__ = [
    "CacheBackoffSettings",
    "CacheBreakerSettings",
    "CacheResilienceSettings",
    "CacheRetrySettings",
    "CacheSettings",
]


class CacheBackoffSettings(BackoffSettings):
    """Waits between reconnection attempts: 0.05 s doubling up to 1 s, full jitter."""

    initial: float = Field(default=0.05, gt=0, allow_inf_nan=False, description="First wait cap, seconds.")
    maximum: float = Field(default=1.0, gt=0, allow_inf_nan=False, description="Longest wait, seconds.")


class CacheRetrySettings(RetrySettings):
    """The reconnection window: a call keeps reconnecting for ``total_timeout`` seconds (10).

    ``attempts`` is only a safety cap (1000): with the default backoff the window ends a call's
    retries long before. ``attempts: 1`` turns reconnection off.
    """

    attempts: int = Field(
        default=1000, ge=1, description="Cap on attempts per call, the first included (1: no retry)."
    )
    total_timeout: float | None = Field(
        default=10.0,
        gt=0,
        allow_inf_nan=False,
        description="Reconnection window: seconds a call keeps reconnecting (null: attempts alone bound it).",
    )
    backoff: CacheBackoffSettings = Field(
        default_factory=CacheBackoffSettings, description="Waits between attempts."
    )


class CacheBreakerSettings(BreakerSettings):
    """The breaker: opened by the first call that used up its window, a probe after 2 s."""

    failure_threshold: int = Field(
        default=1, ge=0, description="Calls that used up their window before the circuit opens (0: off)."
    )
    reset_timeout: float = Field(
        default=2.0,
        gt=0,
        allow_inf_nan=False,
        description="Seconds the open circuit fails calls fast before one probe.",
    )


class CacheResilienceSettings(ResilienceSettings):
    """internal_base's ``ResilienceSettings`` with the cache's defaults.

    ``timeout`` (5 s) bounds each attempt: it is redis-py's socket timeout, so a read or write
    that waits longer fails the attempt (and is retried within the window like a lost connection).
    """

    timeout: float | None = Field(
        default=5.0,
        gt=0,
        allow_inf_nan=False,
        description="Seconds per attempt: redis-py's socket timeout (null: none).",
    )
    retry: CacheRetrySettings = Field(
        default_factory=CacheRetrySettings, description="The reconnection window."
    )
    breaker: CacheBreakerSettings = Field(
        default_factory=CacheBreakerSettings, description="The circuit breaker."
    )


class CacheSettings(LibrarySettings):
    """Connection, pool, TTL, health and resilience settings of a :class:`CacheClient`.

    ``CacheSettings.load()`` reads init values, the environment (``COMMONS_CACHE_*``), the ``cache:``
    section of the YAML file named by ``COMMONS_CONFIG_FILE``, ``.env`` and defaults; a client built
    without settings does exactly that.

    The URL is a :class:`~pydantic.SecretStr`: reprs, logs and errors only ever
    show :attr:`redacted_url` (password masked).
    """

    model_config = SettingsConfigDict(env_prefix="COMMONS_CACHE_", hide_input_in_errors=True)
    yaml_section: ClassVar[str] = "cache"

    url: SecretStr = Field(
        default=SecretStr("redis://localhost:6379/0"),
        description=(
            "redis://, rediss:// or unix:// (one server), redis+cluster:// or rediss+cluster:// "
            "(a Redis Cluster: host:port,host:port...), redis+sentinel://host:port,.../<master>[/<db>] "
            "(the master the sentinels name); may carry a password."
        ),
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
    socket_connect_timeout: float = Field(default=2.0, gt=0, description="Seconds per connect.")
    health_check_interval: float = Field(
        default=15.0, ge=0, description="PING connections idle longer than this (0 = never)."
    )
    health_check: bool = Field(
        default=True, description="Register a PING readiness check (default registry unless one is given)."
    )
    health_check_name: str = Field(default="redis", min_length=1, description="Name in the health registry.")
    resilience: CacheResilienceSettings = Field(
        default_factory=CacheResilienceSettings,
        description="Reconnection window (retry), circuit breaker and per-attempt timeout.",
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        parts = urlsplit(raw)
        if parts.scheme.lower() not in SCHEMES:
            raise ValueError(f"cache url must use one of {sorted(SCHEMES)}, got {redact_url(raw)!r}")
        if parts.scheme != "unix" and "@" in parts.path + parts.query + parts.fragment:
            # A raw '/', '?' or '#' in the password ends the host part early: redis-py would
            # connect elsewhere and redaction would show the rest of the password. Name no part.
            raise ValueError(
                "cache url has an '@' after its host part: percent-encode '/', '?', '#', '@' "
                "and '%' in the username and password (e.g. '/' as %2F)"
            )
        if mode_of(raw) != "standalone":
            parse_topology(raw)  # its errors name the part that is wrong, never the password
        return value

    @property
    def mode(self) -> Mode:
        """The deployment the URL names: ``standalone``, ``cluster`` or ``sentinel`` (from its scheme)."""
        return mode_of(self.url.get_secret_value())

    @property
    def redacted_url(self) -> str:
        """The URL with its password masked; safe for logs and errors."""
        return redact_url(self.url.get_secret_value())
