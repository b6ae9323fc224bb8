"""API errors, the exception → HTTP status mapping and the RFC 9457 exception handlers.

See :class:`ErrorMapper` for how exceptions are matched to rules, and the README for the
table of what every commons library's errors become.
"""

from __future__ import annotations

from internal_fastapi._errors import (
    ApiError,
    BadRequestError,
    ConflictError,
    ErrorMapper,
    ErrorRule,
    ForbiddenError,
    NotFoundError,
    OverloadedError,
    ServiceUnavailableError,
    TooManyRequestsError,
    UnauthorizedError,
    default_error_mapper,
    error_mapper,
    install_exception_handlers,
    problem_response,
    retry_after_header,
)

__all__ = [
    "ApiError",
    "BadRequestError",
    "ConflictError",
    "ErrorMapper",
    "ErrorRule",
    "ForbiddenError",
    "NotFoundError",
    "OverloadedError",
    "ServiceUnavailableError",
    "TooManyRequestsError",
    "UnauthorizedError",
    "default_error_mapper",
    "error_mapper",
    "install_exception_handlers",
    "problem_response",
    "retry_after_header",
]
