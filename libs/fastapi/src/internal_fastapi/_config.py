"""Settings of the FastAPI integration (env prefix ``COMMONS_FASTAPI_``, YAML section ``fastapi``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from internal_base.cursor import MIN_SECRET_BYTES
from internal_base.settings import LibrarySettings

__all__ = ["FastAPISettings"]


class FastAPISettings(LibrarySettings):
    """What :func:`internal_fastapi.install` wires into an application.

    Example:
        ``COMMONS_FASTAPI_HEALTH_PREFIX=/_health`` or, in the shared YAML file::

            fastapi:
              log_exclude_paths: ["/health/live"]
    """

    model_config = SettingsConfigDict(env_prefix="COMMONS_FASTAPI_")
    yaml_section: ClassVar[str] = "fastapi"

    trust_incoming_ids: bool = Field(
        default=True,
        description="Reuse valid X-Correlation-ID / X-Request-ID headers sent by the client.",
    )
    max_id_length: int = Field(default=128, ge=8, le=1024, description="Longest accepted incoming ID.")
    log_requests: bool = Field(default=True, description="Log one line per HTTP request.")
    access_logger: str = Field(default="internal_fastapi.access", min_length=1)
    log_exclude_paths: list[str] = Field(
        default_factory=lambda: ["/health/live", "/health/ready"],
        description="Exact paths not logged (probes).",
    )
    health_enabled: bool = Field(default=True, description="Mount the liveness/readiness router.")
    health_prefix: str = Field(default="/health", description="Prefix of /live and /ready.")
    cursor_secret: SecretStr | None = Field(
        default=None,
        description="HMAC key of pagination cursors (>= 16 bytes). None: a random per-process key, "
        "so cursors do not survive a restart and are refused by other worker processes.",
    )
    health_details: bool = Field(
        default=False,
        description="Readiness bodies show each check's message and latency to every caller "
        "(they may name hosts, users and databases). False: status only, unless "
        "health_router(details=...) lets a caller see them.",
    )
    telemetry: bool = Field(
        default=False,
        description="Instrument the app at install(): a server span per request and the "
        "http.server.* metrics (internal_fastapi.telemetry.instrument() turns it on for every app).",
    )
    max_concurrent_requests: int | None = Field(
        default=100,
        ge=1,
        description="Most requests handled at once by one process; the rest get an immediate "
        "problem+json 503 'overloaded' with Retry-After instead of queueing for the pool or the "
        "event loop. Health probes are never refused. None: no limit (long-lived streams, "
        "e.g. server-sent events, count while they stream: raise it or set None for those).",
    )
    overload_retry_after: int = Field(
        default=1, ge=0, le=3600, description="Seconds in the Retry-After header of an 'overloaded' 503."
    )
    problem_type_base: str | None = Field(
        default=None,
        description="Base URI of problem types (type = base + code); None gives 'about:blank'.",
    )

    @field_validator("cursor_secret")
    @classmethod
    def _check_cursor_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"cursor_secret must be at least {MIN_SECRET_BYTES} bytes long")
        return value

    @field_validator("health_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not value.startswith("/") or value.endswith("/"):
            raise ValueError("health_prefix must start with '/' and not end with '/'")
        return value
