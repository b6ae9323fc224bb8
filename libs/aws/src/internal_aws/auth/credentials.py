"""Where the clients get their credentials, region and endpoint from (see :class:`AwsCredentials`)."""

from __future__ import annotations

from internal_aws.auth._credentials import AwsCredentials, CredentialSource

__all__ = ["AwsCredentials", "CredentialSource"]
