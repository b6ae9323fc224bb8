"""Typed settings of the HTTP client factory: ``HttpSettings`` and its sections.

The resilience section is internal_base's ``ResilienceSettings`` (``retry``, ``breaker``,
``timeout``) in its HTTP flavour: :class:`RetryConfig` and :class:`BreakerConfig` are the base
sections plus the rules only HTTP has (which methods and statuses are retried, how long a
``Retry-After`` may make the client wait), so a team tunes every library with the same keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar, Final

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from internal_base.redaction import redact_headers, redact_url
from internal_base.resilience import BreakerSettings, ResilienceSettings, RetrySettings
from internal_base.settings import LibrarySettings

__all__ = [
    "DEFAULT_RETRY_METHODS",
    "DEFAULT_RETRY_STATUSES",
    "BreakerConfig",
    "HttpResilienceSettings",
    "HttpSettings",
    "LimitsConfig",
    "RetryConfig",
    "TimeoutConfig",
    "unsendable_header_value",
]

DEFAULT_RETRY_METHODS: frozenset[str] = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
DEFAULT_RETRY_STATUSES: frozenset[int] = frozenset({429, 502, 503, 504})

_FROZEN = ConfigDict(frozen=True, extra="forbid")

# Top-level keys of the first settings shape -> where they live now.
_MOVED = {"retry": "resilience.retry", "breaker": "resilience.breaker"}


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


class RetryConfig(RetrySettings):
    """internal_base's ``RetrySettings`` (``attempts``, ``total_timeout``, ``backoff``) plus HTTP's rules.

    Attributes:
        retry_after_cap: Longest ``Retry-After`` honoured, in seconds; longer values are cut (and logged).
        statuses: Response statuses that are retried.
        methods: Methods retried without an ``Idempotency-Key`` (the idempotent ones by default).
        retry_non_idempotent: Retry every method (the caller asserts the API is idempotent).
    """

    retry_after_cap: float = Field(default=60.0, ge=0, allow_inf_nan=False)
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


class BreakerConfig(BreakerSettings):
    """internal_base's ``BreakerSettings`` for one breaker per scheme/host/port.

    ``failure_threshold`` consecutive failed calls (a call counts once, however many attempts it
    took) open the host's breaker; ``0`` turns breakers off. Only what the host did counts: a 5xx
    answer or a failure at the host (refused, reset, timed out). A 429 (the host is alive and
    asks for patience) and local errors (a full pool, an invalid header) never count.
    ``reset_timeout`` (5 s) is short so that a restarted service is used again within seconds;
    raise it for a dependency that is slow to recover or expensive to probe.
    """


class HttpResilienceSettings(ResilienceSettings):
    """internal_base's ``ResilienceSettings`` with the HTTP flavour of its ``retry`` and ``breaker``.

    ``timeout`` bounds each attempt, from sending the request to receiving the response headers
    (``None``: only the per-phase ``HttpSettings.timeout`` applies); an attempt that overruns it
    fails with ``httpx.ReadTimeout`` and is retried like one.
    """

    retry: RetryConfig = Field(default_factory=RetryConfig, description="The retry loop and HTTP's rules.")
    breaker: BreakerConfig = Field(default_factory=BreakerConfig, description="The per-host breakers.")


# Characters h11 refuses in a header value (its field-value rule); whitespace at either end is
# refused too. h11's own refusal puts the value in its message.
_UNSENDABLE_CHARACTER: Final = re.compile(rb"[\x00\n\r\x0b\x0c]")


def unsendable_header_value(value: bytes) -> bool:
    """Whether h11 would refuse ``value``: NUL, CR, LF, vertical tab, form feed, or edge whitespace."""
    return value.strip(b" \t") != value or _UNSENDABLE_CHARACTER.search(value) is not None


_HEADER_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HOST_NAME: Final = re.compile(rb"[A-Za-z0-9._-]+")


def _check_header(name: str, value: str) -> None:
    """Refuse a default header no request could carry; the message names the header, never the value."""
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError(f"headers: {name!r} is not a valid header name (letters, digits, !#$%&'*+-.^_`|~)")
    if not value.isascii():
        raise ValueError(
            f"headers: the value of {name!r} is not ASCII, which httpx sends; its value is not shown"
        )
    if unsendable_header_value(value.encode("ascii")):
        raise ValueError(
            f"headers: the value of {name!r} is one HTTP cannot send (NUL, a line break, or whitespace "
            "at either end); its value is not shown"
        )


def _check_base_url(value: str) -> None:
    """Refuse a base URL no request could use (no host, an invalid host or port); never echo it."""
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL:
        raise ValueError("base_url is not a valid URL") from None
    host = url.raw_host
    if not host:
        raise ValueError("base_url has no host")
    if b":" not in host and not _HOST_NAME.fullmatch(host):  # an IPv6 address is checked by httpx
        raise ValueError("base_url has an invalid host name")
    if url.port is not None and not 1 <= url.port <= 65535:
        raise ValueError(f"base_url port {url.port} is outside 1..65535")


class HttpSettings(LibrarySettings):
    """Settings of :func:`internal_http.create_client` (env prefix ``COMMONS_HTTP_``, YAML ``http``).

    Nested values use ``__`` in the environment, e.g. ``COMMONS_HTTP_RESILIENCE__RETRY__ATTEMPTS=5``;
    in YAML ``http: {resilience: {retry: {attempts: 5}}}``. ``HttpSettings.load()`` reads init
    values, the environment, the YAML file named by ``COMMONS_CONFIG_FILE``, ``.env`` and defaults.

    Attributes:
        base_url: Prefix of relative request URLs (``http://`` or ``https://``).
        timeout: Per-phase httpx timeouts (connect, read, write, pool).
        limits: Connection-pool limits.
        resilience: Retries, per-host circuit breakers and the per-attempt timeout.
        headers: Default headers of every request (masked in the repr).
        http2: Use HTTP/2 (needs the ``internal-http[http2]`` extra).
        follow_redirects: Follow redirects (credentials never follow one to another origin).
        verify: Verify TLS certificates.
        log_headers: Also log (redacted) request and response headers at DEBUG.
        health_check: Register a health check for ``base_url``'s host (breaker state, last error).
    """

    model_config = SettingsConfigDict(
        env_prefix="COMMONS_HTTP_", env_nested_delimiter="__", hide_input_in_errors=True
    )
    yaml_section: ClassVar[str] = "http"

    base_url: str = ""
    timeout: TimeoutConfig = TimeoutConfig()
    limits: LimitsConfig = LimitsConfig()
    resilience: HttpResilienceSettings = Field(default_factory=HttpResilienceSettings)
    headers: dict[str, str] = Field(default_factory=dict)
    http2: bool = False
    follow_redirects: bool = False
    verify: bool = True
    log_headers: bool = False
    health_check: bool = True

    @model_validator(mode="before")
    @classmethod
    def _refuse_moved_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            moved = sorted(key for key in _MOVED if key in data)
            if moved:
                where = ", ".join(f"{key} -> {_MOVED[key]}" for key in moved)
                raise ValueError(f"http settings moved into the resilience section: {where}")
        return data

    @field_validator("base_url")
    @classmethod
    def _http_base_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        if value:
            _check_base_url(value)
        return value

    @field_validator("headers")
    @classmethod
    def _sendable_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, header_value in value.items():
            _check_header(name, header_value)
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
