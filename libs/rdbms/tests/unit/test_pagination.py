"""Offset and keyset pagination: stable order with duplicates and NULLs, cursor validation."""

from __future__ import annotations

import base64
import enum
import json
import math
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Numeric, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from internal_base.cursor import CursorCodec
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
from internal_rdbms._filters import sort_keys
from internal_rdbms._pagination import encode_cursor


class Tier(enum.Enum):
    """An enum sort key."""

    GOLD = 1
    SILVER = 2


class Swap(enum.Enum):
    """Each member's value is the other member's name."""

    A = "B"
    B = "A"


class Reading(IntPrimaryKeyMixin, Base):
    """A float and an enum sort key (``score`` so that a cursor for Event has the same field names)."""

    __tablename__ = "pag_readings"
    score: Mapped[int] = mapped_column(default=0)
    weight: Mapped[float]
    kind: Mapped[Swap | None] = mapped_column(nullable=True)


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


CODEC = CursorCodec("unit-test-cursor-secret-0123456789")


def _forged(order: str, *values: object) -> str:
    """A cursor signed with CODEC whose sort values are ``values`` (what a key holder could forge)."""
    keys = sort_keys(Event, parse_order(order))
    row = SimpleNamespace(**{key.field: value for key, value in zip(keys, values, strict=True)})
    return encode_cursor(Event, keys, row, CODEC)


async def test_cursor_validation(session: AsyncSession) -> None:
    """Garbage, edited, wrongly-typed and incomplete cursors raise InvalidQueryError."""
    good = (
        await paginate_keyset(session, Event, order=parse_order("score"), limit=3, codec=CODEC)
    ).next_cursor
    assert good is not None
    body, _, tag = good.partition(".")
    cases = {
        "!!!not base64!!!": "not a cursor issued by this API",
        body + "." + tag[::-1]: "not a cursor issued by this API",
        body[:-2] + "." + tag: "not a cursor issued by this API",
        _forged("score", "x", 1): "bad value for sort field 'score'",
        _forged("score", None, 1): "missing value for sort field 'score'",
        _forged("score", 1.5, 1): "bad value for sort field 'score'",
        "": "empty",
        "a" * 5000: "longer than",
    }
    for cursor, message in cases.items():
        with pytest.raises(InvalidQueryError, match=message):
            await paginate_keyset(
                session, Event, order=parse_order("score"), limit=3, cursor=cursor, codec=CODEC
            )
    page = await paginate_keyset(
        session, Event, order=parse_order("score"), limit=3, cursor=good, codec=CODEC
    )
    assert len(page.items) == 3


async def test_cursor_is_bound_to_model_and_order(session: AsyncSession) -> None:
    """A cursor made for one order (or model) is refused by another, even with the same values."""
    good = (
        await paginate_keyset(session, Event, order=parse_order("score"), limit=3, codec=CODEC)
    ).next_cursor
    assert good is not None
    with pytest.raises(InvalidQueryError, match="different sort order"):
        await paginate_keyset(session, Event, order=parse_order("-score"), limit=3, cursor=good, codec=CODEC)
    with pytest.raises(InvalidQueryError, match="different sort order"):
        await paginate_keyset(session, Reading, order=parse_order("score"), limit=3, cursor=good, codec=CODEC)


async def test_cursor_signed_with_another_secret_is_rejected(session: AsyncSession) -> None:
    """A cursor signed with another secret is an InvalidQueryError, with the same order and model."""
    other = CursorCodec("another-secret-for-the-same-api!")
    good = (
        await paginate_keyset(session, Event, order=parse_order("score"), limit=3, codec=other)
    ).next_cursor
    assert good is not None
    with pytest.raises(InvalidQueryError, match="not a cursor issued by this API"):
        await paginate_keyset(session, Event, order=parse_order("score"), limit=3, cursor=good, codec=CODEC)


async def test_cursor_is_not_plain_json(session: AsyncSession) -> None:
    """The cursor carries an HMAC tag: editing its JSON body breaks it."""
    good = (
        await paginate_keyset(session, Event, order=parse_order("score"), limit=3, codec=CODEC)
    ).next_cursor
    assert good is not None
    body, dot, tag = good.partition(".")
    assert (dot, len(tag) >= 20) == (".", True)
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["v"][0] = -1
    edited = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=") + "." + tag
    with pytest.raises(InvalidQueryError, match="not a cursor issued by this API"):
        await paginate_keyset(session, Event, order=parse_order("score"), limit=3, cursor=edited, codec=CODEC)


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
    with pytest.raises(InvalidQueryError, match="out of range"):
        await paginate_keyset(
            session,
            Event,
            order=parse_order("score"),
            limit=3,
            cursor=_forged("score", 10**20, 1),
            codec=CODEC,
        )


async def test_forged_huge_number_for_float_key_is_rejected(session: AsyncSession) -> None:
    """A cursor with a number too big for a float is an InvalidQueryError, not an OverflowError."""
    keys = sort_keys(Reading, parse_order("weight"))
    cursor = encode_cursor(Reading, keys, SimpleNamespace(weight=10**400, id=1), CODEC)
    with pytest.raises(InvalidQueryError, match="bad value for sort field 'weight'"):
        await paginate_keyset(session, Reading, order=parse_order("weight"), cursor=cursor, codec=CODEC)


async def test_infinite_floats_at_page_boundaries(session: AsyncSession) -> None:
    """Rows holding ±inf at a page boundary make a cursor; the walk matches ORDER BY (SQLite stores inf)."""
    session.add_all(Reading(weight=w) for w in [math.inf, -math.inf, 1.5, -0.0, 0.0, math.inf, -math.inf])
    await session.flush()
    expected = list((await session.scalars(select(Reading.id).order_by(Reading.weight, Reading.id))).all())
    seen: list[int] = []
    cursor: str | None = None
    while True:
        page = await paginate_keyset(session, Reading, order=parse_order("weight"), limit=1, cursor=cursor)
        seen += [row.id for row in page.items]
        if (cursor := page.next_cursor) is None:
            break
    assert seen == expected


async def test_enum_cursor_decodes_by_name(session: AsyncSession) -> None:
    """An enum whose member values are other members' names round-trips through the cursor."""
    session.add_all(Reading(weight=1.0, kind=kind) for kind in [Swap.A, Swap.B, Swap.B, Swap.A, Swap.B])
    await session.flush()
    query = select(Reading.id).where(Reading.kind.is_not(None)).order_by(Reading.kind, Reading.id)
    expected = list((await session.scalars(query)).all())
    seen: list[int] = []
    cursor: str | None = None
    while True:
        statement = select(Reading).where(Reading.kind.is_not(None))
        page = await paginate_keyset(
            session, Reading, statement, order=parse_order("kind"), limit=1, cursor=cursor
        )
        seen += [row.id for row in page.items]
        if (cursor := page.next_cursor) is None:
            break
    assert seen == expected
