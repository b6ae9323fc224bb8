"""Credentials of the AWS clients: explicit keys, a profile or botocore's default chain."""

from __future__ import annotations

from internal_aws.auth._credentials import AwsCredentials, CredentialSource

__all__ = ["AwsCredentials", "CredentialSource"]
