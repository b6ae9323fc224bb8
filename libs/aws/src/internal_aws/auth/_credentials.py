"""Where the clients get their credentials, region and endpoint from.

The chain, first match wins:

1. explicit keys (``access_key_id`` + ``secret_access_key`` [+ ``session_token``], kept as ``SecretStr``);
2. a named ``profile`` of the shared config/credentials files;
3. botocore's default chain: ``AWS_*`` environment variables, shared files, SSO, container and
   instance metadata.

``endpoint_url`` points every client at LocalStack, moto or another compatible endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import aioboto3
from pydantic import SecretStr

from internal_aws._boto import is_aws_error, translate
from internal_aws._config import AwsSettings
from internal_aws._errors import AwsConfigurationError
from internal_base.redaction import redact_url

__all__ = ["AwsCredentials", "CredentialSource"]

CredentialSource = Literal["explicit", "profile", "default"]


def _secret(value: SecretStr | str | None) -> SecretStr | None:
    if value is None or isinstance(value, SecretStr):
        return value
    return SecretStr(value)


@dataclass(frozen=True, kw_only=True)
class AwsCredentials:
    """Credentials, region and endpoint override for building an ``aioboto3.Session`` and clients.

    Plain strings given for the keys are wrapped in ``SecretStr``; ``repr`` never shows them.

    Raises:
        AwsConfigurationError: Only one of the two keys was given, or a session token without keys.
    """

    access_key_id: SecretStr | None = field(default=None)
    secret_access_key: SecretStr | None = field(default=None)
    session_token: SecretStr | None = field(default=None)
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None

    def __post_init__(self) -> None:
        for name in ("access_key_id", "secret_access_key", "session_token"):
            object.__setattr__(self, name, _secret(getattr(self, name)))
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise AwsConfigurationError("access_key_id and secret_access_key must be given together")
        if self.session_token is not None and self.access_key_id is None:
            raise AwsConfigurationError("session_token needs access_key_id and secret_access_key")

    @classmethod
    def from_settings(cls, settings: AwsSettings | None = None) -> AwsCredentials:
        """The credentials part of ``settings`` (default: ``AwsSettings.load()``, YAML file included)."""
        if settings is None:
            settings = AwsSettings.load()
        return cls(
            access_key_id=settings.access_key_id,
            secret_access_key=settings.secret_access_key,
            session_token=settings.session_token,
            profile=settings.profile,
            region=settings.region,
            endpoint_url=settings.endpoint_url,
        )

    @property
    def source(self) -> CredentialSource:
        """Which link of the chain supplies the keys."""
        if self.access_key_id is not None:
            return "explicit"
        if self.profile is not None:
            return "profile"
        return "default"

    def session(self) -> Any:
        """A new ``aioboto3.Session`` for this source and region."""
        if self.access_key_id is not None and self.secret_access_key is not None:
            return aioboto3.Session(
                aws_access_key_id=self.access_key_id.get_secret_value(),
                aws_secret_access_key=self.secret_access_key.get_secret_value(),
                aws_session_token=None
                if self.session_token is None
                else self.session_token.get_secret_value(),
                region_name=self.region,
            )
        return aioboto3.Session(profile_name=self.profile, region_name=self.region)

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``session.client(service, ...)``: endpoint and region when set."""
        kwargs: dict[str, Any] = {}
        if self.endpoint_url is not None:
            kwargs["endpoint_url"] = self.endpoint_url
        if self.region is not None:
            kwargs["region_name"] = self.region
        return kwargs

    async def verify(self, session: Any | None = None) -> str:
        """Resolve the keys now (instead of at the first call) and return botocore's method name.

        Args:
            session: The session to check; default: a new one from :meth:`session`.

        Returns:
            How the keys were found: ``"explicit"``, ``"env"``, ``"shared-credentials-file"`` ...

        Raises:
            AwsConfigurationError: No credentials anywhere in the chain, or an unknown profile.
        """
        try:
            chosen = session if session is not None else self.session()
            resolved = await chosen.get_credentials()
        except Exception as exc:
            if is_aws_error(exc):
                raise translate(exc, "ResolveCredentials") from exc
            raise
        if resolved is None:
            raise AwsConfigurationError(
                "no AWS credentials found: give explicit keys or a profile, or set AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY, shared credential files or an instance role"
            )
        return str(resolved.method)

    def __repr__(self) -> str:
        endpoint = None if self.endpoint_url is None else redact_url(self.endpoint_url)
        return (
            f"AwsCredentials(source={self.source!r}, profile={self.profile!r}, region={self.region!r}, "
            f"endpoint_url={endpoint!r}, access_key_id={'***' if self.access_key_id else None})"
        )
