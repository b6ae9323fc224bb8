"""Response models: the data envelope, RFC 9457 problem details and the three page shapes."""

from __future__ import annotations

from internal_fastapi._responses import (
    PROBLEM_CONTENT_TYPE,
    ApiResponse,
    CursorPageResponse,
    FieldError,
    OffsetPageResponse,
    PageResponse,
    ProblemDetail,
    ValidationProblemDetail,
)

__all__ = [
    "ApiResponse",
    "CursorPageResponse",
    "FieldError",
    "OffsetPageResponse",
    "PROBLEM_CONTENT_TYPE",
    "PageResponse",
    "ProblemDetail",
    "ValidationProblemDetail",
]
