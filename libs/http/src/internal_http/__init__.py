"""internal_http: an ``httpx.AsyncClient`` that retries safely, honours servers and never leaks secrets.

Public modules: :mod:`internal_http.client` (``create_client``, transport, errors),
:mod:`internal_http.auth` (auth strategies) and :mod:`internal_http.config` (``HttpSettings``);
everything is also importable from the package root.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .auth import (
    SECRET_NAMES_EXTENSION,
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    SecretMarkingAuth,
    TokenProvider,
    mark_secret,
)
from .client import (
    ATTEMPTS_EXTENSION,
    HOST_FAILURE_EXCEPTIONS,
    IDEMPOTENCY_KEY_HEADER,
    RETRY_EXTENSION,
    BreakerRegistry,
    HostHealthCheck,
    Http2NotAvailableError,
    HttpError,
    HttpUnavailableError,
    RetryTransport,
    create_client,
    inject_context_hook,
    parse_retry_after,
)
from .config import (
    BreakerConfig,
    HttpResilienceSettings,
    HttpSettings,
    LimitsConfig,
    RetryConfig,
    TimeoutConfig,
)

try:
    __version__ = version("internal-http")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+source"

__all__ = [
    "ATTEMPTS_EXTENSION",
    "ApiKeyAuth",
    "BasicAuth",
    "BearerAuth",
    "BreakerConfig",
    "BreakerRegistry",
    "HOST_FAILURE_EXCEPTIONS",
    "HostHealthCheck",
    "Http2NotAvailableError",
    "HttpError",
    "HttpResilienceSettings",
    "HttpSettings",
    "HttpUnavailableError",
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
