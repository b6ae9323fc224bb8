"""Response models: a data envelope, RFC 9457 problem details and the three page shapes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from internal_base.context import get_correlation_id

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "ApiResponse",
    "CursorPageResponse",
    "FieldError",
    "OffsetPageResponse",
    "PageResponse",
    "ProblemDetail",
    "ValidationProblemDetail",
]

PROBLEM_CONTENT_TYPE = "application/problem+json"

T = TypeVar("T")


class ApiResponse(BaseModel, Generic[T]):
    """The standard success envelope: ``{"data": ..., "correlation_id": ...}``."""

    data: T
    correlation_id: str | None = Field(default=None, description="ID to quote when reporting a problem.")

    @classmethod
    def of(cls, data: T) -> ApiResponse[T]:
        """Wrap ``data`` and stamp the correlation ID of the current request."""
        return cls(data=data, correlation_id=get_correlation_id())


class ProblemDetail(BaseModel):
    """An RFC 9457 problem (``application/problem+json``) plus ``code`` and ``correlation_id``.

    Extension members other than these are allowed (``extra="allow"``).
    """

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="URI identifying the problem type.")
    title: str = Field(description="Short, human-readable summary of the problem type.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(default=None, description="Explanation specific to this occurrence.")
    instance: str | None = Field(default=None, description="The request path.")
    code: str = Field(description="Stable, machine-readable error code, e.g. 'not_found'.")
    correlation_id: str | None = Field(default=None, description="ID to quote when reporting it.")


class FieldError(BaseModel):
    """One invalid input: where it is, what is wrong (the input value itself is never echoed)."""

    field: str = Field(description="Dotted path, e.g. 'body.items.0.name' or 'query.limit'.")
    message: str
    type: str = Field(description="Pydantic error type, e.g. 'missing', 'greater_than_equal'.")


class ValidationProblemDetail(ProblemDetail):
    """A 422 problem listing the invalid fields (the first 50; ``error_count`` has the total)."""

    errors: list[FieldError] = Field(default_factory=list)
    error_count: int | None = Field(default=None, description="How many invalid fields there were.")


class OffsetPageResponse(BaseModel, Generic[T]):
    """A page addressed by ``limit`` / ``offset``."""

    items: list[T]
    limit: int
    offset: int
    total: int | None = None
    next_offset: int | None = None

    @classmethod
    def create(
        cls, items: Sequence[T], *, limit: int, offset: int, total: int | None = None
    ) -> OffsetPageResponse[T]:
        """Build the page; ``next_offset`` is set when more rows follow.

        Without ``total``, a full page is taken to mean "maybe more" (fetch ``limit + 1`` rows
        and pass them all to get an exact answer: the extra row is dropped here).
        """
        has_next = (offset + min(len(items), limit) < total) if total is not None else len(items) > limit
        page = list(items[:limit])
        return cls(
            items=page,
            limit=limit,
            offset=offset,
            total=total,
            next_offset=offset + len(page) if has_next else None,
        )


class PageResponse(BaseModel, Generic[T]):
    """A page addressed by a 1-based ``page`` number and a ``size``."""

    items: list[T]
    page: int
    size: int
    total: int
    pages: int

    @classmethod
    def create(cls, items: Sequence[T], *, page: int, size: int, total: int) -> PageResponse[T]:
        """Build the page; ``pages`` is computed from ``total`` and ``size``."""
        return cls(items=list(items), page=page, size=size, total=total, pages=math.ceil(total / size))


class CursorPageResponse(BaseModel, Generic[T]):
    """A page addressed by an opaque cursor; pass ``next_cursor`` back for the next page."""

    items: list[T]
    limit: int
    next_cursor: str | None = None


def problem_body(problem: ProblemDetail) -> dict[str, Any]:
    """The JSON body of a problem, without unset optional members."""
    return problem.model_dump(mode="json", exclude_none=True)
