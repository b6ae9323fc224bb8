"""Authentication strategies (``httpx.Auth`` subclasses) and the marking of secrets for the logs."""

from __future__ import annotations

from ._auth import ApiKeyAuth, BasicAuth, BearerAuth, SecretMarkingAuth, TokenProvider
from ._logging import SECRET_NAMES_EXTENSION, mark_secret

__all__ = [
    "ApiKeyAuth",
    "BasicAuth",
    "BearerAuth",
    "SECRET_NAMES_EXTENSION",
    "SecretMarkingAuth",
    "TokenProvider",
    "mark_secret",
]
