"""Settings shared by every AWS client (env prefix ``COMMONS_AWS_``, YAML section ``aws``).

Clients given no settings call :meth:`AwsSettings.load` (init → env → the YAML file named by
``COMMONS_CONFIG_FILE`` → ``.env`` → defaults); library code never builds ``AwsSettings()`` itself.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from internal_aws._errors import CALLER_ERRORS, RETRYABLE_ERRORS
from internal_base.resilience import ResiliencePolicy, ResilienceSettings
from internal_base.settings import LibrarySettings

__all__ = ["AwsSettings", "MIB"]

# Keys of the first settings shape -> where they live now (botocore's own retries are gone).
_MOVED = {"max_attempts": "resilience.retry.attempts", "retry_mode": "resilience.retry"}

MIB = 1024 * 1024
"""One mebibyte; S3 parts (except the last) must be at least 5 MiB."""


class AwsSettings(LibrarySettings):
    """Credentials, endpoint, timeouts, retries and S3 transfer settings of the AWS clients.

    Credentials resolve in this order: explicit keys → ``profile`` → the default boto chain
    (environment variables, shared files, container/instance metadata). Keys are
    :class:`~pydantic.SecretStr`, so reprs, logs and validation errors never show them.
    """

    model_config = SettingsConfigDict(env_prefix="COMMONS_AWS_", hide_input_in_errors=True)
    yaml_section: ClassVar[str] = "aws"

    region: str | None = Field(default=None, description="AWS region; None: the default chain's region.")
    endpoint_url: str | None = Field(
        default=None, description="Endpoint override for every service (LocalStack, moto)."
    )
    access_key_id: SecretStr | None = Field(default=None, description="Explicit access key id.")
    secret_access_key: SecretStr | None = Field(default=None, description="Explicit secret access key.")
    session_token: SecretStr | None = Field(default=None, description="Session token of temporary keys.")
    profile: str | None = Field(default=None, description="Named profile of the shared config files.")

    connect_timeout: float = Field(default=5.0, gt=0, description="Seconds to open a connection.")
    read_timeout: float = Field(
        default=60.0, gt=0, description="Seconds to wait for a response; keep above SQS long-poll waits."
    )
    max_pool_connections: int = Field(default=10, ge=1, description="HTTP connections per client.")

    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        default="auto", description="S3 addressing; 'path' for most local emulators with a hostname."
    )
    s3_multipart_threshold: int = Field(
        default=8 * MIB, ge=5 * MIB, description="Bytes from which uploads use multipart."
    )
    s3_part_size: int = Field(default=8 * MIB, ge=5 * MIB, description="Bytes per multipart part.")
    s3_max_concurrency: int = Field(
        default=3,
        ge=1,
        description="Parts uploaded at the same time; at most this many part buffers are in memory.",
    )
    presign_expires: int = Field(
        default=3600, ge=1, le=7 * 24 * 3600, description="Default lifetime of presigned URLs, seconds."
    )

    health_check: bool = Field(
        default=True,
        description="Register a readiness check in the default registry (unless health_registry= is given).",
    )
    resilience: ResilienceSettings = Field(
        default_factory=ResilienceSettings,
        description=(
            "Timeout, retry and breaker around each call (see resilience_policy); the one retry loop: "
            "botocore makes a single attempt per policy attempt."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _refuse_moved_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            moved = sorted(key for key in _MOVED if key in data)
            if moved:
                where = ", ".join(f"{key} -> {_MOVED[key]}" for key in moved)
                raise ValueError(f"aws settings moved into the resilience section: {where}")
        return data

    @field_validator("region", "endpoint_url", "profile")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _keys_come_in_pairs(self) -> AwsSettings:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("access_key_id and secret_access_key must be given together")
        if self.session_token is not None and self.access_key_id is None:
            raise ValueError("session_token needs access_key_id and secret_access_key")
        return self

    def resilience_policy(self, name: str) -> ResiliencePolicy:
        """The policy built from ``resilience``, named ``name`` (its breaker's and retry logs' label).

        Only unavailability (connection, timeout, 5xx) and throttling are retried, and client
        errors (not found, condition failed, access denied, invalid request) never open the breaker.
        """
        # TimeoutError: the policy's own per-attempt timeout, raised before the client translates it.
        retry_on = (*RETRYABLE_ERRORS, TimeoutError)
        return self.resilience.to_policy(name, retry_on=retry_on, excluded=CALLER_ERRORS)
