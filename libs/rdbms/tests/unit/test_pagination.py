"""Offset and keyset pagination: stable order with duplicates and NULLs, cursor validation."""

from __future__ import annotations

import base64
import enum
import json
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Numeric, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from internal_rdbms import (
    Base,
    CursorPage,
    Database,
    IntPrimaryKeyMixin,
    InvalidQueryError,
    OrderBy,
    Repository,
    paginate_keyset,
    paginate_offset,
    parse_order,
)


class Tier(enum.Enum):
    """An enum sort key."""

    GOLD = 1
    SILVER = 2


class Event(IntPrimaryKeyMixin, Base):
    """Rows with many duplicate sort values and a nullable column."""

    __tablename__ = "pag_events"
    score: Mapped[int]
    label: Mapped[str | None] = mapped_column(String(10), nullable=True)
    happened_at: Mapped[datetime]
    ref: Mapped[uuid.UUID]
    amount: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    tier: Mapped[Tier]


ROWS = 57
BASE_TIME = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.fixture()
async def session(sqlite_db: Database) -> AsyncIterator[AsyncSession]:
    """57 events with few distinct scores, labels (some NULL), times and amounts."""
    rng = random.Random(7)
    async with sqlite_db.transaction() as s:
        s.add_all(
            Event(
                score=rng.randint(0, 4),
                label=rng.choice([None, "a", "b", "c"]),
                happened_at=BASE_TIME + timedelta(minutes=rng.randint(0, 5)),
                ref=uuid.UUID(int=rng.getrandbits(128)),
                amount=Decimal(rng.randint(0, 3)) / 2,
                tier=rng.choice(list(Tier)),
            )
            for _ in range(ROWS)
        )
    async with sqlite_db.session() as s:
        yield s


def _expected(rows: list[Event], order: list[OrderBy]) -> list[int]:
    """Sort in Python: requested keys (NULLs last in both directions) then id ascending."""
    result = sorted(rows, key=lambda row: row.id)
    for key in reversed(order):
        present = [row for row in result if getattr(row, key.field) is not None]
        missing = [row for row in result if getattr(row, key.field) is None]

        def value(row: Event, field: str = key.field) -> Any:
            raw = getattr(row, field)
            return raw.name if isinstance(raw, enum.Enum) else raw  # SQLAlchemy stores enum names

        result = sorted(present, key=value, reverse=key.descending) + missing
    return [row.id for row in result]


async def _walk(session: AsyncSession, order: str, limit: int) -> tuple[list[int], int]:
    repo = Repository(session, Event)
    ids: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await repo.keyset(order_by=order, limit=limit, cursor=cursor)
        pages += 1
        ids.extend(event.id for event in page.items)
        if not page.has_next:
            return ids, pages
        cursor = page.next_cursor
        assert pages <= ROWS + 1, "pagination does not terminate"


ORDERS = [
    "score",
    "-score",
    "label,-score",
    "-label",
    "happened_at,-id",
    "-amount,tier",
    "ref",
    "tier,-label",
]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("limit", [1, 7, 100])
async def test_keyset_walk_matches_total_order(session: AsyncSession, order: str, limit: int) -> None:
    """Walking every keyset page yields each row exactly once, in the total order (PK tiebreak)."""
    everything = await Repository(session, Event).list()
    expected = _expected(everything, parse_order(order))
    ids, pages = await _walk(session, order, limit)
    assert ids == expected
    assert pages == -(-ROWS // limit)  # limit + 1 rows are fetched: never an empty last page


@pytest.mark.parametrize("order", ORDERS)
async def test_offset_pages_match_total_order(session: AsyncSession, order: str) -> None:
    """Offset pages concatenate to the same total order; totals and next offsets are right."""
    expected = _expected(await Repository(session, Event).list(), parse_order(order))
    ids: list[int] = []
    offset: int | None = 0
    while offset is not None:
        page = await Repository(session, Event).page(order_by=order, limit=10, offset=offset)
        assert page.total == ROWS
        ids.extend(event.id for event in page.items)
        offset = page.next_offset
    assert ids == expected


async def test_keyset_skips_nothing_when_rows_arrive(session: AsyncSession) -> None:
    """Rows inserted before the cursor between requests do not shift later pages."""
    repo = Repository(session, Event)
    first = await repo.keyset(order_by="score", limit=20)
    session.add(
        Event(score=-1, label=None, happened_at=BASE_TIME, ref=uuid.uuid4(), amount=0, tier=Tier.GOLD)
    )
    await session.flush()
    rest: list[int] = []
    cursor = first.next_cursor
    while cursor is not None:
        page = await repo.keyset(order_by="score", limit=20, cursor=cursor)
        rest.extend(event.id for event in page.items)
        cursor = page.next_cursor
    seen = [event.id for event in first.items] + rest
    assert len(seen) == len(set(seen)) == ROWS


async def test_functions_accept_custom_statements(session: AsyncSession) -> None:
    """The module functions paginate a filtered statement and can skip the count."""
    statement = Repository(session, Event).select().where(Event.score >= 3)
    matching = [e.id for e in await Repository(session, Event).list() if e.score >= 3]
    page = await paginate_offset(session, Event, statement, limit=5, with_total=False)
    assert page.total is None
    assert [e.id for e in page.items] == sorted(matching)[:5]
    keyset: CursorPage[Event] = await paginate_keyset(session, Event, statement, limit=1000)
    assert [e.id for e in keyset.items] == sorted(matching)
    assert keyset.next_cursor is None


async def test_last_offset_page(session: AsyncSession) -> None:
    """The last offset page reports no next page and the right item count."""
    page = await paginate_offset(session, Event, order=[OrderBy("score")], limit=10, offset=50)
    assert (len(page.items), page.has_next, page.next_offset, page.total) == (7, False, None, ROWS)


@pytest.mark.parametrize("limit", [0, -1, 1001, True])
async def test_limit_validation(session: AsyncSession, limit: int) -> None:
    """Page sizes outside 1..max_limit are rejected for both kinds of pagination."""
    with pytest.raises(InvalidQueryError, match="between 1 and 1000"):
        await paginate_keyset(session, Event, limit=limit)
    with pytest.raises(InvalidQueryError, match="between 1 and 1000"):
        await paginate_offset(session, Event, limit=limit)


async def test_offset_validation(session: AsyncSession) -> None:
    """Negative offsets are rejected."""
    with pytest.raises(InvalidQueryError, match="'offset' must be a non-negative integer"):
        await paginate_offset(session, Event, offset=-5)


def _cursor(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


async def test_cursor_validation(session: AsyncSession) -> None:
    """Garbage, foreign-order, wrongly-shaped and tampered cursors raise InvalidQueryError."""
    repo = Repository(session, Event)
    good = (await repo.keyset(order_by="score", limit=3)).next_cursor
    assert good is not None
    fingerprint = json.loads(base64.urlsafe_b64decode(good + "=" * (-len(good) % 4)))["f"]
    cases = {
        "!!!not base64!!!": "not a cursor issued by this API",
        _cursor([1, 2]): "not a cursor issued by this API",
        _cursor({"f": fingerprint, "v": ["x", 1]}): "expected int",
        _cursor({"f": fingerprint, "v": [None, 1]}): "missing value for sort field 'score'",
        _cursor({"f": fingerprint, "v": [1]}): "different sort order",
        "": "empty",
        "a" * 5000: "too long",
    }
    for cursor, message in cases.items():
        with pytest.raises(InvalidQueryError, match=message):
            await repo.keyset(order_by="score", limit=3, cursor=cursor)
    with pytest.raises(InvalidQueryError, match="different sort order"):
        await repo.keyset(order_by="-score", limit=3, cursor=good)
    assert len((await repo.keyset(order_by="score", limit=3, cursor=good)).items) == 3


async def test_cursor_round_trips_typed_values(session: AsyncSession) -> None:
    """Cursors carry datetime, UUID, Decimal and enum sort values faithfully."""
    for order in ("happened_at", "ref", "amount", "tier"):
        ids, _ = await _walk(session, order, 5)
        assert ids == _expected(await Repository(session, Event).list(), parse_order(order))


async def test_repository_max_limit(session: AsyncSession) -> None:
    """A repository subclass can lower the largest page size."""

    class SmallPages(Repository[Event]):
        model = Event
        max_limit = 10

    with pytest.raises(InvalidQueryError, match="between 1 and 10"):
        await SmallPages(session).page(limit=11)
    assert len((await SmallPages(session).page(limit=10)).items) == 10


async def test_deeply_nested_cursor_is_rejected(session: AsyncSession) -> None:
    """A short cursor of deeply nested JSON is an InvalidQueryError, not a RecursionError (500)."""
    cursor = base64.urlsafe_b64encode(b"[" * 1100 + b"]" * 1100).decode().rstrip("=")
    with pytest.raises(InvalidQueryError, match="not a cursor issued by this API"):
        await paginate_keyset(session, Event, order=[OrderBy("score")], cursor=cursor)


async def test_huge_offset_is_rejected(session: AsyncSession) -> None:
    """An offset beyond a 64-bit integer is an InvalidQueryError, not a driver OverflowError."""
    with pytest.raises(InvalidQueryError, match="'offset'"):
        await paginate_offset(session, Event, offset=2**63)


async def test_cursor_with_out_of_range_integer_is_rejected(session: AsyncSession) -> None:
    """A cursor carrying an integer no database column can hold is rejected, not sent to the driver."""
    repo = Repository(session, Event)
    good = (await repo.keyset(order_by="score", limit=3)).next_cursor
    assert good is not None
    fingerprint = json.loads(base64.urlsafe_b64decode(good + "=" * (-len(good) % 4)))["f"]
    with pytest.raises(InvalidQueryError, match="out of range"):
        await repo.keyset(order_by="score", limit=3, cursor=_cursor({"f": fingerprint, "v": [10**20, 1]}))
