"""The client: ``create_client`` (a real ``httpx.AsyncClient``), its transport, breakers and errors."""

from __future__ import annotations

from ._client import create_client, inject_context_hook
from ._errors import Http2NotAvailableError, HttpError, HttpUnavailableError
from ._health import HostHealthCheck
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
    "BreakerRegistry",
    "HOST_FAILURE_EXCEPTIONS",
    "HostHealthCheck",
    "Http2NotAvailableError",
    "HttpError",
    "HttpUnavailableError",
    "IDEMPOTENCY_KEY_HEADER",
    "RETRY_EXTENSION",
    "RetryTransport",
    "create_client",
    "inject_context_hook",
    "parse_retry_after",
]
