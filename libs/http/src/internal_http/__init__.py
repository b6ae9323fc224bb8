"""internal_http: an ``httpx.AsyncClient`` that retries safely, honours servers and never leaks secrets."""

from __future__ import annotations

from ._auth import ApiKeyAuth, BasicAuth, BearerAuth, SecretMarkingAuth, TokenProvider
from ._client import create_client, inject_context_hook
from ._config import BreakerConfig, HttpClientSettings, LimitsConfig, RetryConfig, TimeoutConfig
from ._errors import Http2NotAvailableError, HttpError
from ._logging import SECRET_NAMES_EXTENSION, mark_secret
from ._transport import (
    ATTEMPTS_EXTENSION,
    HOST_FAILURE_EXCEPTIONS,
    IDEMPOTENCY_KEY_HEADER,
    RETRY_EXTENSION,
    BreakerRegistry,
    RetryTransport,
    parse_retry_after,
)

__all__ = [
    "ATTEMPTS_EXTENSION",
    "ApiKeyAuth",
    "BasicAuth",
    "BearerAuth",
    "BreakerConfig",
    "BreakerRegistry",
    "HOST_FAILURE_EXCEPTIONS",
    "Http2NotAvailableError",
    "HttpClientSettings",
    "HttpError",
    "IDEMPOTENCY_KEY_HEADER",
    "LimitsConfig",
    "RETRY_EXTENSION",
    "RetryConfig",
    "RetryTransport",
    "SECRET_NAMES_EXTENSION",
    "SecretMarkingAuth",
    "TimeoutConfig",
    "TokenProvider",
    "create_client",
    "inject_context_hook",
    "mark_secret",
    "parse_retry_after",
]
