"""Offset and keyset (cursor) pagination over a mapped class with a stable, total order.

Both append the primary key to the requested order, so rows with equal sort values never move
between pages. Keyset pagination seeks past the last row of the previous page with
``(k1 > v1) OR (k1 = v1 AND k2 > v2) OR ...`` (mixed directions and NULLs, sorted last, included),
so deep pages cost the same as the first one. Cursors are opaque URL-safe strings bound to the
model and the order they were made for; a tampered or foreign cursor raises :class:`InvalidQueryError`.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Final, Generic, TypeVar
from uuid import UUID

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from internal_rdbms._errors import InvalidQueryError
from internal_rdbms._filters import OrderBy, SortKey, coerce_value, sort_keys

__all__ = [
    "CursorPage",
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "Page",
    "decode_cursor",
    "encode_cursor",
    "paginate_keyset",
    "paginate_offset",
]

DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 1000
_MAX_CURSOR_LENGTH: Final = 4096
_MAX_OFFSET: Final = 2**63 - 1

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of an offset-paginated query.

    Attributes:
        items: The rows of this page.
        limit: Requested page size.
        offset: Rows skipped before this page.
        total: Rows matching the query (``None`` when not counted).
        has_next: Whether rows exist after this page.
    """

    items: list[T]
    limit: int
    offset: int
    total: int | None
    has_next: bool

    @property
    def next_offset(self) -> int | None:
        """The offset of the next page, or ``None`` on the last page."""
        return self.offset + len(self.items) if self.has_next else None


@dataclass(frozen=True, slots=True)
class CursorPage(Generic[T]):
    """One page of a keyset-paginated query.

    Attributes:
        items: The rows of this page.
        limit: Requested page size.
        next_cursor: Pass it back to get the next page; ``None`` on the last page.
    """

    items: list[T]
    limit: int
    next_cursor: str | None = field(default=None)

    @property
    def has_next(self) -> bool:
        """Whether rows exist after this page."""
        return self.next_cursor is not None


def _check_limit(limit: int, max_limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= max_limit:
        raise InvalidQueryError(f"page size 'limit' must be an integer between 1 and {max_limit}")


def _fingerprint(model: type[Any], keys: Sequence[SortKey]) -> str:
    spec = ",".join(f"{'-' if key.descending else ''}{key.field}" for key in keys)
    return hashlib.sha256(f"{model.__name__}:{spec}".encode()).hexdigest()[:12]


def _plain(value: object) -> object:
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise InvalidQueryError(f"cannot build a cursor from a sort value of type {type(value).__name__}")


def encode_cursor(model: type[Any], keys: Sequence[SortKey], row: object) -> str:
    """The cursor pointing just after ``row`` for the order ``keys``."""
    payload = {"f": _fingerprint(model, keys), "v": [_plain(getattr(row, key.field)) for key in keys]}
    raw = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(model: type[Any], keys: Sequence[SortKey], cursor: str) -> list[object]:
    """The sort values stored in ``cursor``, coerced to the column types.

    Raises:
        InvalidQueryError: Malformed cursor, or made for another model or order.
    """
    if not isinstance(cursor, str) or not cursor or len(cursor) > _MAX_CURSOR_LENGTH:
        raise InvalidQueryError("invalid cursor: empty, not a string or too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):  # RecursionError: deeply nested JSON
        raise InvalidQueryError("invalid cursor: not a cursor issued by this API") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("v"), list):
        raise InvalidQueryError("invalid cursor: not a cursor issued by this API")
    if payload.get("f") != _fingerprint(model, keys) or len(payload["v"]) != len(keys):
        raise InvalidQueryError("invalid cursor: it was issued for a different sort order")
    values: list[object] = []
    for key, value in zip(keys, payload["v"], strict=True):
        if value is None and not key.nullable:
            raise InvalidQueryError(f"invalid cursor: missing value for sort field {key.field!r}")
        values.append(coerce_value(model, key.field, value))
    return values


def _after(keys: Sequence[SortKey], values: Sequence[object]) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the order ``keys`` (NULLs last).

    ``(k1 > v1) OR (k1 = v1 AND k2 > v2) OR ...``, prefixed by the redundant ``k1 >= v1`` when the
    first key is not nullable, so that every backend can use an index range on the first key.
    """
    branches: list[ColumnElement[bool]] = []
    equal: list[ColumnElement[bool]] = []
    for key, value in zip(keys, values, strict=True):
        column = key.column
        if value is not None:
            beyond = column < value if key.descending else column > value
            if key.nullable:
                beyond = or_(beyond, column.is_(None))
            branches.append(and_(*equal, beyond))
            equal.append(column == value)
        else:  # NULL sorts last: nothing is after it within this column
            equal.append(column.is_(None))
    condition = or_(*branches) if branches else false()
    first, first_value = keys[0], values[0]
    if not first.nullable and first_value is not None and len(keys) > 1:
        bound = first.column <= first_value if first.descending else first.column >= first_value
        condition = and_(bound, condition)
    return condition


def _base(model: type[Any], statement: Select[Any] | None) -> Select[Any]:
    return select(model) if statement is None else statement


async def paginate_offset(
    session: AsyncSession,
    model: type[T],
    statement: Select[Any] | None = None,
    *,
    order: Iterable[OrderBy] = (),
    limit: int = DEFAULT_PAGE_SIZE,
    offset: int = 0,
    with_total: bool = True,
    allowed_order: Collection[str] | None = None,
    max_limit: int = MAX_PAGE_SIZE,
) -> Page[T]:
    """Fetch one page with ``LIMIT``/``OFFSET`` in a stable order (primary key appended).

    Args:
        session: The session to query with.
        model: The mapped class the statement selects.
        statement: ``select(model)`` with filters applied; its own ORDER BY is replaced.
        order: Sort keys; the primary key is appended as a tiebreaker.
        limit: Page size (1..``max_limit``).
        offset: Rows to skip (>= 0).
        with_total: Also count the matching rows (one extra query).
        allowed_order: Allow-list of sort fields.
        max_limit: Largest accepted ``limit``.

    Raises:
        InvalidQueryError: Bad limit, offset or sort field.
    """
    _check_limit(limit, max_limit)
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= _MAX_OFFSET:
        raise InvalidQueryError(f"page 'offset' must be a non-negative integer up to {_MAX_OFFSET}")
    base = _base(model, statement).order_by(None)
    keys = sort_keys(model, order, allowed=allowed_order)
    ordered = base.order_by(*[clause for key in keys for clause in key.clauses()])
    rows = list((await session.scalars(ordered.limit(limit + 1).offset(offset))).all())
    total: int | None = None
    if with_total:
        count = select(func.count()).select_from(base.subquery())
        total = int((await session.execute(count)).scalar_one())
    return Page(items=rows[:limit], limit=limit, offset=offset, total=total, has_next=len(rows) > limit)


async def paginate_keyset(
    session: AsyncSession,
    model: type[T],
    statement: Select[Any] | None = None,
    *,
    order: Iterable[OrderBy] = (),
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
    allowed_order: Collection[str] | None = None,
    max_limit: int = MAX_PAGE_SIZE,
) -> CursorPage[T]:
    """Fetch the page after ``cursor`` (the first page when ``None``) by seeking on the sort keys.

    Correct with duplicate sort values and NULLs (the primary key breaks ties), and rows inserted
    or deleted between requests never cause skipped or repeated rows before the cursor.

    Args:
        session: The session to query with.
        model: The mapped class the statement selects.
        statement: ``select(model)`` with filters applied; its own ORDER BY is replaced.
        order: Sort keys; the primary key is appended as a tiebreaker.
        limit: Page size (1..``max_limit``).
        cursor: ``next_cursor`` of the previous page.
        allowed_order: Allow-list of sort fields.
        max_limit: Largest accepted ``limit``.

    Raises:
        InvalidQueryError: Bad limit, sort field or cursor.
    """
    _check_limit(limit, max_limit)
    keys = sort_keys(model, order, allowed=allowed_order)
    query = _base(model, statement).order_by(None)
    if cursor is not None:
        query = query.where(_after(keys, decode_cursor(model, keys, cursor)))
    query = query.order_by(*[clause for key in keys for clause in key.clauses()]).limit(limit + 1)
    rows = list((await session.scalars(query)).all())
    items = rows[:limit]
    next_cursor = encode_cursor(model, keys, items[-1]) if len(rows) > limit else None
    return CursorPage(items=items, limit=limit, next_cursor=next_cursor)
