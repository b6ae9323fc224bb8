"""Pagination query parameters (offset, page number, cursor) and signed, listing-bound cursors."""

from __future__ import annotations

from internal_fastapi._pagination import (
    CursorCodec,
    CursorParams,
    InvalidCursorError,
    OffsetParams,
    PageParams,
    cursor_pagination,
    offset_pagination,
    page_pagination,
)

__all__ = [
    "CursorCodec",
    "CursorParams",
    "InvalidCursorError",
    "OffsetParams",
    "PageParams",
    "cursor_pagination",
    "offset_pagination",
    "page_pagination",
]
