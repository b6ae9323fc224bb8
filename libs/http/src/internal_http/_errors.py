"""Errors raised by internal_http itself.

Transport failures stay httpx exceptions and an open breaker raises internal_base's
``CircuitOpenError``; only failures that originate in this library use these types.
"""

from __future__ import annotations

from internal_base.errors import CommonsError

__all__ = ["Http2NotAvailableError", "HttpError"]


class HttpError(CommonsError):
    """Root of the errors raised by internal_http."""


class Http2NotAvailableError(HttpError, ImportError):
    """HTTP/2 was enabled but the ``h2`` package (extra ``internal-http[http2]``) is missing."""
