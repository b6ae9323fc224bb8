"""Response models: envelope, problems and page shapes."""

from __future__ import annotations

from fastapi import FastAPI

from internal_base.context import correlation_scope
from internal_fastapi import (
    ApiResponse,
    CursorPageResponse,
    OffsetPageResponse,
    PageResponse,
    ProblemDetail,
    ValidationProblemDetail,
)


def test_envelope_stamps_the_correlation_id() -> None:
    """``ApiResponse.of`` wraps data with the current correlation ID."""
    with correlation_scope("corr-r"):
        envelope = ApiResponse[dict[str, int]].of({"a": 1})
    assert envelope.model_dump() == {"data": {"a": 1}, "correlation_id": "corr-r"}
    assert ApiResponse[int].of(1).correlation_id is None


def test_offset_page_with_total() -> None:
    """With a total, ``next_offset`` is set while rows remain."""
    page = OffsetPageResponse[int].create([1, 2], limit=2, offset=0, total=3)
    last = OffsetPageResponse[int].create([3], limit=2, offset=2, total=3)
    assert (page.next_offset, last.next_offset) == (2, None)


def test_offset_page_without_total_uses_the_extra_row() -> None:
    """Without a total, a ``limit + 1``-th row signals a next page and is dropped."""
    more = OffsetPageResponse[int].create([1, 2, 3], limit=2, offset=4)
    done = OffsetPageResponse[int].create([1, 2], limit=2, offset=4)
    assert (more.items, more.next_offset, more.total) == ([1, 2], 6, None)
    assert (done.items, done.next_offset) == ([1, 2], None)


def test_page_response_counts_pages() -> None:
    """``pages`` is ``ceil(total / size)`` and 0 for an empty collection."""
    assert PageResponse[int].create([1], page=1, size=10, total=21).pages == 3
    assert PageResponse[int].create([], page=1, size=10, total=0).pages == 0


def test_problem_allows_extension_members() -> None:
    """Problems accept extra members and dump them."""
    problem = ProblemDetail(title="Conflict", status=409, code="conflict", order_id=3)
    assert problem.model_dump(exclude_none=True) == {
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "code": "conflict",
        "order_id": 3,
    }


def test_models_appear_in_openapi() -> None:
    """Generic page and problem models produce named schemas for clients."""
    app = FastAPI()

    @app.get("/items", responses={422: {"model": ValidationProblemDetail}})
    async def items() -> CursorPageResponse[int]:
        return CursorPageResponse[int](items=[], limit=1)

    schemas = app.openapi()["components"]["schemas"]
    assert "CursorPageResponse_int_" in schemas
    assert set(schemas["ValidationProblemDetail"]["properties"]) >= {"errors", "code", "correlation_id"}
