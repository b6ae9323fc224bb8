"""Pure ASGI middleware: correlation context, access log and last-resort error handling.

:func:`internal_fastapi.install` adds :class:`CommonsMiddleware`, the three in one layer; add the
separate classes yourself only to build a different stack (:class:`Admission` is the
concurrent-request limit ``CommonsMiddleware`` takes).
"""

from __future__ import annotations

from internal_fastapi._admission import Admission
from internal_fastapi._middleware import (
    CorrelationIdMiddleware,
    ErrorHandlingMiddleware,
    RequestLoggingMiddleware,
    is_valid_id,
)
from internal_fastapi._stack import CommonsMiddleware

__all__ = [
    "Admission",
    "CommonsMiddleware",
    "CorrelationIdMiddleware",
    "ErrorHandlingMiddleware",
    "RequestLoggingMiddleware",
    "is_valid_id",
]
