"""Dependencies: settings and bearer-token authentication with a pluggable verifier.

Database sessions, filters, cache, HTTP and SQS clients are in the ``internal_fastapi.extensions``
subpackage (each needs its extra).
"""

from __future__ import annotations

from internal_fastapi._dependencies import (
    BearerAuth,
    StaticTokenVerifier,
    TokenVerifier,
    bearer_token,
    settings_dependency,
)

__all__ = [
    "BearerAuth",
    "StaticTokenVerifier",
    "TokenVerifier",
    "bearer_token",
    "settings_dependency",
]
