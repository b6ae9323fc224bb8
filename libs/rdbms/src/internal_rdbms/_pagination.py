"""Offset and keyset (cursor) pagination over a mapped class with a stable, total order.

Both append the primary key to the requested order, so rows with equal sort values never move
between pages. Keyset pagination seeks past the last row of the previous page with
``(k1 > v1) OR (k1 = v1 AND k2 > v2) OR ...`` (mixed directions and NULLs, sorted last, included),
or, when every key has one direction and no NULLs, the row value ``(k1, k2) > (v1, v2)``
(an index seek on PostgreSQL and SQLite), so deep pages cost the same as the first one; each
comparison follows the database's own sort order for the column type (see ``_ordering``).
Cursors are signed, URL-safe strings bound to the model and the order they were made for; a
tampered or foreign cursor raises :class:`InvalidQueryError`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    Double,
    Select,
    and_,
    false,
    func,
    literal_column,
    or_,
    select,
    tuple_,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Boolean, Enum, TypeDecorator

from internal_base.cursor import CursorCodec
from internal_rdbms._cursor import backend_of, check_cursor_keys, codec_for, decode_cursor, encode_cursor
from internal_rdbms._errors import InvalidQueryError
from internal_rdbms._filters import OrderBy, SortKey, sort_keys
from internal_rdbms._ordering import bind_value, compare
from internal_rdbms._values import returned_inexactly

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


def _after(keys: Sequence[SortKey], values: Sequence[object]) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the order ``keys`` (NULLs last).

    ``(k1 > v1) OR (k1 = v1 AND k2 > v2) OR ...`` with each comparison made the way the database's
    ``ORDER BY`` sorts that type (:func:`compare`), prefixed by the redundant ``k1 >= v1`` when the
    first key is not nullable, so that every backend can use an index range on the first key.
    """
    if len(keys) > 1 and _row_comparable(keys, values):
        # One row-value comparison, (k1, k2) > (v1, v2): PostgreSQL and SQLite seek the index with
        # it, so a page costs the same at any depth even when k1 has few distinct values.
        columns = [key.column.expression for key in keys]
        left = tuple_(*columns)
        right = tuple_(*(bind_value(c, v) for c, v in zip(columns, values, strict=True)))
        row = left < right if keys[0].descending else left > right
        return and_(compare(keys[0].column, "le" if keys[0].descending else "ge", values[0]), row)
    branches: list[ColumnElement[bool]] = []
    equal: list[ColumnElement[bool]] = []
    for key, value in zip(keys, values, strict=True):
        column = key.column
        if value is not None:
            beyond = compare(column, "lt" if key.descending else "gt", value)
            if key.nullable:
                beyond = or_(beyond, column.is_(None))
            branches.append(and_(*equal, beyond))
            equal.append(compare(column, "eq", value))
        else:  # NULL sorts last: nothing is after it within this column
            equal.append(column.is_(None))
    condition = or_(*branches) if branches else false()
    first, first_value = keys[0], values[0]
    if not first.nullable and first_value is not None and len(keys) > 1:
        bound = compare(first.column, "le" if first.descending else "ge", first_value)
        condition = and_(bound, condition)
    return condition


def _row_comparable(keys: Sequence[SortKey], values: Sequence[object]) -> bool:
    """Whether ``_after`` may compare as one row value: one direction, no NULLs, plain column types."""
    direction = keys[0].descending
    for key, value in zip(keys, values, strict=True):
        if key.descending is not direction or key.nullable or value is None:
            return False
        column_type = key.column.expression.type
        while isinstance(column_type, TypeDecorator):
            column_type = column_type.impl_instance
        if isinstance(column_type, Boolean | Enum):  # compared in their own sort order, see _ordering
            return False
    return True


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
    codec: CursorCodec | None = None,
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
        codec: Signs and verifies cursors; default: the session's (``Database`` sessions carry one
            made from ``RdbmsSettings.cursor_secret``), else a random per-process key.

    Raises:
        InvalidQueryError: Bad limit, sort field or cursor (edited, or issued for another model,
            order or key).
    """
    _check_limit(limit, max_limit)
    keys = sort_keys(model, order, allowed=allowed_order)
    check_cursor_keys(model, keys)
    codec = codec_for(session, codec)
    backend = backend_of(session)
    query = _base(model, statement).order_by(None)
    if cursor is not None:
        query = query.where(_after(keys, decode_cursor(model, keys, cursor, codec, backend=backend)))
    query = query.order_by(*[clause for key in keys for clause in key.clauses()]).limit(limit + 1)
    # Keys whose values the driver rounds are also selected exactly, for the cursor.
    inexact = [key for key in keys if returned_inexactly(key.column.type, backend)]
    exact: dict[str, object] = {}
    if inexact:
        extra: list[ColumnElement[float]] = [
            type_coerce(key.column + literal_column("0E0"), Double()) for key in inexact
        ]
        result = list((await session.execute(query.add_columns(*extra))).all())
        rows = [row[0] for row in result]
        if len(result) > limit:
            exact = {key.field: value for key, value in zip(inexact, result[limit - 1][1:], strict=True)}
    else:
        rows = list((await session.scalars(query)).all())
    items = rows[:limit]
    next_cursor = encode_cursor(model, keys, items[-1], codec, exact) if len(rows) > limit else None
    return CursorPage(items=items, limit=limit, next_cursor=next_cursor)
