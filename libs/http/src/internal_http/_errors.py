"""Errors raised by internal_http itself.

Transport failures (refused connections, timeouts, protocol errors) stay httpx exceptions, so
``except httpx.TransportError`` keeps working; only failures that originate in this library use
these types::

    CommonsError                      (internal_base.errors)
    └── HttpError
        ├── HttpUnavailableError      (also a ConnectionError) the host's circuit is open
        └── Http2NotAvailableError    (also an ImportError) http2 on, the h2 extra missing
"""

from __future__ import annotations

from typing import Any

from internal_base.errors import CommonsError

__all__ = ["Http2NotAvailableError", "HttpError", "HttpUnavailableError"]


class HttpError(CommonsError):
    """Root of the errors raised by internal_http."""


class HttpUnavailableError(HttpError, ConnectionError):
    """The host cannot be used: its circuit breaker is open, so the request was not sent.

    Attributes:
        host: ``<scheme>://<host>[:<port>]`` of the request (no credentials, no path).
        retry_after: Seconds until the breaker lets a probe request through (``None`` if unknown).
        last_error: The (redacted) failure that ended the last call to the host, if known.
    """

    def __init__(self, host: str, retry_after: float | None, *, last_error: str | None = None) -> None:
        self.host = host
        self.retry_after = None if retry_after is None else max(0.0, retry_after)
        self.last_error = last_error
        message = f"{host} is unavailable"
        if self.retry_after is not None:
            message += f": its circuit breaker is open; retry after {self.retry_after:.3f}s"
        if last_error:
            message += f"; last error: {last_error}"
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.host, self.retry_after, self.last_error))


def _rebuild(
    cls: type[HttpUnavailableError], host: str, retry_after: float | None, last_error: str | None
) -> HttpUnavailableError:
    return cls(host, retry_after, last_error=last_error)


class Http2NotAvailableError(HttpError, ImportError):
    """HTTP/2 was enabled but the ``h2`` package (extra ``internal-http[http2]``) is missing."""
