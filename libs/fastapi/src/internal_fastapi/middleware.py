"""Pure ASGI middleware: correlation context, access log and last-resort error handling.

:func:`internal_fastapi.install` adds all three in the right order; add them yourself only to
build a different stack.
"""

from __future__ import annotations

from internal_fastapi._middleware import (
    CorrelationIdMiddleware,
    ErrorHandlingMiddleware,
    RequestLoggingMiddleware,
    is_valid_id,
)

__all__ = [
    "CorrelationIdMiddleware",
    "ErrorHandlingMiddleware",
    "RequestLoggingMiddleware",
    "is_valid_id",
]
