"""Keyset pages, range filters and search per column type on PostgreSQL, MariaDB/MySQL and SQLite.

The oracle is always the database's own ``ORDER BY`` on the same keys: walking every keyset page
must give exactly the rows of one ``SELECT ... ORDER BY``, for every sortable type.
"""

from __future__ import annotations

import enum
import math
import random
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pytest
import pytest_asyncio
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Double,
    Enum,
    Float,
    Integer,
    Interval,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Time,
    Uuid,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, column_property, mapped_column

from internal_rdbms import (
    Base,
    Database,
    Eq,
    IntPrimaryKeyMixin,
    InvalidQueryError,
    Range,
    RdbmsNotFoundError,
    RdbmsSettings,
    Repository,
    Search,
    UTCDateTime,
    apply_order,
    parse_filters,
    parse_order,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Color(enum.Enum):
    """Declared in an order unlike the name order; every value is another member's name."""

    RED = "BLUE"
    BLUE = "GREEN"
    GREEN = "RED"


class Shade(enum.Enum):
    """Stored by value (``values_callable``), declared out of alphabetical order."""

    DARK = "zz"
    LIGHT = "aa"
    MID = "mm"


class Typed(IntPrimaryKeyMixin, Base):
    """One nullable column of each sortable type; ``tag`` isolates the rows of each test."""

    __tablename__ = "ct_typed"
    tag: Mapped[str] = mapped_column(String(64), index=True)
    color: Mapped[Color | None] = mapped_column(Enum(Color, name="ct_color"), nullable=True)
    plain_color: Mapped[Color | None] = mapped_column(
        Enum(Color, native_enum=False, name="ct_plain_color", create_constraint=False), nullable=True
    )
    shade: Mapped[Shade | None] = mapped_column(
        Enum(Shade, name="ct_shade", values_callable=lambda cls: [m.value for m in cls]), nullable=True
    )
    flag: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    ratio: Mapped[float | None] = mapped_column(Double, nullable=True)
    single: Mapped[float | None] = mapped_column(Float, nullable=True)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(10, 3), nullable=True)
    moment: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    naive: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    day: Mapped[date | None] = mapped_column(Date, nullable=True)
    name: Mapped[str | None] = mapped_column(String(40), nullable=True)
    ref: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    small: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    medium: Mapped[int | None] = mapped_column(Integer, nullable=True)
    big: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    code: Mapped[str | None] = mapped_column(Uuid(as_uuid=False), nullable=True)
    folded: Mapped[str | None] = mapped_column(
        String(40)
        .with_variant(String(40, collation="NOCASE"), "sqlite")
        .with_variant(String(40, collation="utf8mb4_unicode_ci"), "mysql")
        .with_variant(String(40, collation="C"), "postgresql"),
        nullable=True,
    )
    latin: Mapped[str | None] = mapped_column(
        String(20).with_variant(String(20, collation="latin1_swedish_ci"), "mysql"), nullable=True
    )
    span: Mapped[timedelta | None] = mapped_column(Interval, nullable=True)
    clock: Mapped[time | None] = mapped_column(Time, nullable=True)
    blob: Mapped[bytes | None] = mapped_column(LargeBinary(64), nullable=True)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Keyed(Base):
    """A composite key of a 32-bit integer and a string."""

    __tablename__ = "ct_keyed"
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column(String(20), primary_key=True)


# An SQL expression that is NULL wherever ``small`` is: it has no ``nullable`` flag of its own.
Typed.doubled = column_property(Typed.__table__.c.small * 2)

FIELDS = [
    "color",
    "plain_color",
    "shade",
    "flag",
    "ratio",
    "single",
    "amount",
    "moment",
    "naive",
    "day",
    "name",
    "ref",
    "small",
    "span",
    "clock",
    "blob",
    "doubled",
    "folded",
]
NAMES = ["a", "A", "a ", "b", "B", "á", "Á", "é", "e", "ß", "ss", "", "z", "Z", "a b", "ä", "😀", "ǅ"]
NUMERIC_NAN = Decimal("NaN")  # PostgreSQL's numeric stores NaN (sorted after every number)
BLOBS = [b"", b"\x00", b"\x00\x01", b"\xff", b"A", b"a", b"\x80abc"]


@pytest.fixture(scope="session", params=["postgresql", "mysql", "sqlite"])
def backend_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh database on each backend: PostgreSQL, MariaDB/MySQL, and an SQLite file."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("sqlite") / "types.db"
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")
    return url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def typed_db(backend_url: str) -> AsyncIterator[Database]:
    """A Database per backend with the ``ct_typed`` table."""
    database = Database(RdbmsSettings(url=backend_url, health_check=False))
    tables = [Base.metadata.tables[model.__tablename__] for model in (Typed, Keyed)]
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: Base.metadata.create_all(sync, tables=tables))
    yield database
    await database.aclose()


def _floats(backend: str) -> list[float]:
    """Finite doubles with duplicates, plus what the backend can store: ±inf, NaN (PostgreSQL)."""
    values = [0.1, 0.1, 1 / 3, -2.5, 0.0, -0.0, 1e300, -1e-300, 0.30000000000000004, 7.0]
    if backend != "mysql":
        values += [math.inf, -math.inf, math.inf]
    if backend == "postgresql":
        values += [math.nan, math.nan]
    return values


def _rows(tag: str, backend: str, count: int = 36) -> list[Typed]:
    rng = random.Random(f"{backend}-types")  # the same rows every run: failures reproduce
    offset = timezone(timedelta(hours=5))
    floats = _floats(backend)

    def maybe(value: object) -> Any:
        return None if rng.random() < 0.15 else value

    return [
        Typed(
            tag=tag,
            color=maybe(rng.choice(list(Color))),
            plain_color=maybe(rng.choice(list(Color))),
            shade=maybe(rng.choice(list(Shade))),
            flag=maybe(rng.choice([True, False])),
            ratio=floats[i] if i < len(floats) else maybe(rng.choice(floats)),  # each special value once
            single=maybe(rng.choice([0.1, 1 / 3, 2.5, -0.7, 1e10, 0.1])),
            amount=NUMERIC_NAN
            if i < 2 and backend == "postgresql"
            else maybe(Decimal(rng.randint(-5, 5)) / 4),
            moment=maybe(datetime(2024, 1, 1, 12, tzinfo=offset) + timedelta(microseconds=rng.randint(0, 3))),
            naive=maybe(datetime(2024, 1, 1) + timedelta(seconds=rng.randint(0, 4))),
            day=maybe(date(2024, 1, 1) + timedelta(days=rng.randint(0, 3))),
            name=maybe(rng.choice(NAMES)),
            folded=maybe(rng.choice(NAMES)),
            ref=maybe(uuid.UUID(int=rng.getrandbits(128), version=4)),
            small=maybe(rng.randint(-3, 3)),
            medium=rng.randint(-(2**31), 2**31 - 1),
            big=rng.randint(-(2**63), 2**63 - 1),
            span=maybe(timedelta(days=rng.randint(-2, 2), seconds=rng.randint(0, 2))),
            clock=maybe(time(rng.randint(0, 2), 30)),
            # aiomysql cannot bind bytes with the installed PyMySQL (escape_bytes_prefixed clash).
            blob=None if backend == "mysql" else maybe(rng.choice(BLOBS)),
        )
        for i in range(count)
    ]


async def _insert(db: Database, tag: str) -> None:
    async with db.transaction() as session:
        await Repository(session, Typed).add_many(_rows(tag, db.backend))


async def _oracle(session: AsyncSession, tag: str, order: str) -> list[int]:
    """The database's own order for ``order`` (NULLs last, id tiebreak): one SELECT ... ORDER BY."""
    statement = apply_order(select(Typed.id).where(Typed.tag == tag), Typed, parse_order(order))
    return list((await session.scalars(statement)).all())


async def _walk(session: AsyncSession, tag: str, order: str, limit: int) -> list[int]:
    repo = Repository(session, Typed)
    ids: list[int] = []
    cursor: str | None = None
    for _ in range(200):
        page = await repo.keyset(tag=tag, order_by=order, limit=limit, cursor=cursor)
        ids.extend(row.id for row in page.items)
        if (cursor := page.next_cursor) is None:
            return ids
    raise AssertionError("keyset pagination does not terminate")


@pytest.mark.parametrize("field", FIELDS)
async def test_keyset_walk_matches_database_order(typed_db: Database, unique_name: str, field: str) -> None:
    """Walking keyset pages (both directions, small pages) gives exactly the database's ORDER BY."""
    await _insert(typed_db, unique_name)
    async with typed_db.session() as session:
        other = "flag" if field != "flag" else "small"
        for order in (field, f"-{field}", f"{field},-id", f"-{other},{field}"):
            expected = await _oracle(session, unique_name, order)
            assert len(expected) == 36
            for limit in (1, 4):
                assert await _walk(session, unique_name, order, limit) == expected, (order, limit)


RANGE_FIELDS = ["color", "plain_color", "shade", "flag", "ratio", "amount", "day", "small"]


@pytest.mark.parametrize("field", RANGE_FIELDS)
async def test_range_filters_follow_database_order(typed_db: Database, unique_name: str, field: str) -> None:
    """``gt``/``ge``/``lt``/``le`` on each type select the rows after/before a value in ORDER BY."""
    await _insert(typed_db, unique_name)
    async with typed_db.session() as session:
        repo = Repository(session, Typed)
        ordered = list(
            (
                await session.execute(
                    apply_order(select(Typed.id, getattr(Typed, field)), Typed, parse_order(field)).where(
                        Typed.tag == unique_name, getattr(Typed, field).is_not(None)
                    )
                )
            ).all()
        )
        for _, value in ordered:
            if isinstance(value, float | Decimal) and math.isnan(value):  # NaN equals nothing
                continue
            same = {row_id for row_id, other in ordered if other == value}
            positions = [i for i, (row_id, _) in enumerate(ordered) if row_id in same]
            before = {row_id for row_id, _ in ordered[: positions[0]]}
            after = {row_id for row_id, _ in ordered[positions[-1] + 1 :]}
            for op, want in (("gt", after), ("ge", after | same), ("lt", before), ("le", before | same)):
                got = {row.id for row in await repo.list(Range(field, **{op: value}), tag=unique_name)}
                assert got == want, (op, value)


async def test_float_equality_finds_the_stored_float(typed_db: Database, unique_name: str) -> None:
    """``single=0.1`` finds the rows stored as 0.1, also in MySQL's single-precision FLOAT."""
    async with typed_db.transaction() as session:
        await Repository(session, Typed).add_many(Typed(tag=unique_name, single=v) for v in (0.1, 0.2, 0.1))
    async with typed_db.session() as session:
        rows = await Repository(session, Typed).list(*parse_filters({"single": "0.1"}), tag=unique_name)
    assert len(rows) == 2


async def test_boolean_range_from_query_string(typed_db: Database, unique_name: str) -> None:
    """``flag__ge=true`` from a query string selects the true rows, not a server error."""
    await _insert(typed_db, unique_name)
    async with typed_db.session() as session:
        repo = Repository(session, Typed)
        got = {row.id for row in await repo.list(*parse_filters({"flag__ge": "true"}), tag=unique_name)}
        want = {row.id for row in await repo.list(tag=unique_name, flag=True)}
        assert want
        assert got == want


async def _search(session: AsyncSession, tag: str, term: str, *, case_sensitive: bool) -> list[str]:
    rows = await Repository(session, Typed).list(
        Search("name", term, case_sensitive=case_sensitive), tag=tag, order_by="id"
    )
    return sorted({row.name or "" for row in rows})


async def test_case_sensitive_search_on_every_backend(typed_db: Database, unique_name: str) -> None:
    """``case_sensitive=True`` matches exact code points: no case or accent folding on any backend."""
    async with typed_db.transaction() as session:
        names = ["Apple", "apple", "APPLE", "Äpfel", "äpfel", "a%b", "a_b", "axb", "A[b]*?"]
        await Repository(session, Typed).add_many(Typed(tag=unique_name, name=name) for name in names)
    async with typed_db.session() as session:
        assert await _search(session, unique_name, "pple", case_sensitive=True) == ["Apple", "apple"]
        assert await _search(session, unique_name, "App", case_sensitive=True) == ["Apple"]
        assert await _search(session, unique_name, "äp", case_sensitive=True) == ["äpfel"]
        assert await _search(session, unique_name, "a%", case_sensitive=True) == ["a%b"]
        assert await _search(session, unique_name, "a_", case_sensitive=True) == ["a_b"]
        assert await _search(session, unique_name, "[b]*?", case_sensitive=True) == ["A[b]*?"]


@pytest.mark.parametrize(
    ("mode", "term", "expected"),
    [
        ("startswith", "App", ["Apple"]),
        ("startswith", "app", ["apple"]),
        ("endswith", "PLE", ["APPLE"]),
        ("endswith", "b]*?", ["A[b]*?"]),
        ("startswith", "a_", ["a_b"]),
        ("endswith", "%b", ["a%b"]),
    ],
)
async def test_case_sensitive_prefix_and_suffix_search(
    typed_db: Database,
    unique_name: str,
    mode: Literal["contains", "startswith", "endswith"],
    term: str,
    expected: list[str],
) -> None:
    """Case-sensitive startswith/endswith match exact code points, wildcards literally, on every backend."""
    async with typed_db.transaction() as session:
        names = ["Apple", "apple", "APPLE", "a%b", "a_b", "axb", "A[b]*?", "ab"]
        await Repository(session, Typed).add_many(Typed(tag=unique_name, name=name) for name in names)
    async with typed_db.session() as session:
        rows = await Repository(session, Typed).list(
            Search("name", term, mode=mode, case_sensitive=True),
            tag=unique_name,
        )
    assert sorted(row.name or "" for row in rows) == expected


async def test_case_insensitive_search_folds_letters_not_accents(
    typed_db: Database, unique_name: str
) -> None:
    """Case-insensitive search folds ASCII and non-ASCII letters alike, and never folds accents."""
    async with typed_db.transaction() as session:
        names = ["Äpfel", "äpfel", "Apfel", "ÉCOLE", "école", "ecole", "a%b", "axb"]
        await Repository(session, Typed).add_many(Typed(tag=unique_name, name=name) for name in names)
    async with typed_db.session() as session:
        assert await _search(session, unique_name, "äPF", case_sensitive=False) == ["Äpfel", "äpfel"]
        assert await _search(session, unique_name, "École", case_sensitive=False) == ["ÉCOLE", "école"]
        assert await _search(session, unique_name, "A%", case_sensitive=False) == ["a%b"]


ALL = frozenset({"postgresql", "mysql", "sqlite"})
SERVERS = frozenset({"postgresql", "mysql"})  # SQLite integers are 64-bit whatever the declared type
UNSTORABLE: list[tuple[str, str, frozenset[str]]] = [
    ("moment", "0001-01-01T00:00:00+05:00", ALL),
    ("moment", "9999-12-31T23:59:59-05:00", ALL),
    ("naive", "2024-01-01T00:00:00+01:00", ALL),
    ("name", "nul\x00byte", frozenset({"postgresql"})),
    ("name", "lone \ud800 surrogate", ALL),
    ("amount", "NaN", ALL),
    ("amount", "sNaN", ALL),
    ("amount", "Infinity", ALL),
    ("amount", "1e30", ALL),
    ("amount", "123456789", ALL),
    ("small", "40000", SERVERS),
    ("small", str(-(2**15) - 1), SERVERS),
    ("medium", str(2**31), SERVERS),
    ("big", str(2**63), ALL),
    ("color", "PURPLE", ALL),
    ("ratio", "1" + "0" * 400, ALL),
    ("ratio", "-1e400", ALL),
    ("code", "not-a-uuid", ALL),
    ("latin", "Ω", frozenset({"mysql"})),  # a latin1 column on MySQL, declared in the model
    ("latin", "😀", frozenset({"mysql"})),
    # Storable everywhere: ordinary filters, never a driver error.
    ("naive", "0001-01-01T00:00:00", frozenset()),
    ("moment", "9999-12-31T23:59:59.999999", frozenset()),
    ("moment", "0001-01-01T00:00:00-05:00", frozenset()),
    ("day", "0001-01-01", frozenset()),
    ("name", "😀", frozenset()),
    ("big", str(-(2**63)), frozenset()),
    ("amount", "9999999.999", frozenset()),
    ("amount", "0." + "0" * 40 + "1", frozenset()),
]


@pytest.mark.parametrize(("field", "value", "where"), UNSTORABLE)
@pytest.mark.parametrize("op", ["eq", "gt"])
async def test_unstorable_filter_values_are_client_errors(
    typed_db: Database, unique_name: str, field: str, value: str, where: frozenset[str], op: str
) -> None:
    """A value the column cannot store is an InvalidQueryError naming the field; the session still works."""
    await _insert(typed_db, unique_name)
    async with typed_db.transaction() as session:
        repo = Repository(session, Typed)
        filters = parse_filters({f"{field}__{op}": value})
        if typed_db.backend in where:
            with pytest.raises(InvalidQueryError, match=f"field '{field}'"):
                await repo.list(*filters, tag=unique_name)
        else:  # storable on this backend: an ordinary filter
            assert isinstance(await repo.list(*filters, tag=unique_name), list)
        assert await repo.count(tag=unique_name) == 36
        assert (await session.execute(text("SELECT 1"))).scalar_one() == 1


@pytest.mark.parametrize("key", [(2**31, "a"), (-(2**63) - 1, "a"), (1, "nul\x00"), (1, "\udc80")])
async def test_unstorable_primary_key_is_not_found(typed_db: Database, key: tuple[int, str]) -> None:
    """get() of a key no row can hold is RdbmsNotFoundError (get_or_none: None), never a driver error."""
    async with typed_db.session() as session:  # never committed: each case starts from an empty table
        repo = Repository(session, Keyed)
        await repo.add(Keyed(number=1, code="a"))
        assert await repo.get_or_none(key) is None
        with pytest.raises(RdbmsNotFoundError):
            await repo.get(key)
        assert (await repo.get((1, "a"))).code == "a"


class Legacy(IntPrimaryKeyMixin, Base):
    """A model that does not know its MySQL table stores ``name`` in latin1."""

    __tablename__ = "ct_legacy"
    name: Mapped[str] = mapped_column(String(20))


# Character sets per column are a MySQL/MariaDB feature: this test runs there only (never a skip).
@pytest.mark.parametrize("backend_url", ["mysql"], indirect=True)
async def test_value_outside_an_undeclared_charset_is_a_client_error(typed_db: Database) -> None:
    """MySQL's "Illegal mix of collations" for a value a latin1 column cannot hold is an InvalidQueryError."""
    assert typed_db.backend == "mysql"
    table = Base.metadata.tables[Legacy.__tablename__]
    async with typed_db.engine.begin() as connection:
        await connection.run_sync(lambda sync: table.create(sync, checkfirst=True))
        await connection.execute(text("ALTER TABLE ct_legacy MODIFY name VARCHAR(20) CHARACTER SET latin1"))
    async with typed_db.transaction() as session:
        repo = Repository(session, Legacy)
        await repo.add(Legacy(name="äpfel"))
        with pytest.raises(InvalidQueryError, match="character set cannot store"):
            await repo.list(Eq("name", "Ω"))
        assert [row.name for row in await repo.list(Eq("name", "äpfel"))] == ["äpfel"]


async def test_searching_a_non_text_column_is_a_client_error(typed_db: Database, unique_name: str) -> None:
    """Search on an enum or UUID column is an InvalidQueryError naming it, not a database error."""
    async with typed_db.session() as session:
        repo = Repository(session, Typed)
        for field in ("color", "plain_color", "code"):
            with pytest.raises(InvalidQueryError, match=f"cannot search field '{field}'"):
                await repo.list(Search(field, "RED"), tag=unique_name)


async def test_cursor_on_unordered_type_is_refused_up_front(typed_db: Database, unique_name: str) -> None:
    """Keyset paging by a JSON column is refused on the first page, not after it."""
    async with typed_db.session() as session:
        with pytest.raises(InvalidQueryError, match="cannot page Typed by field 'data'"):
            await Repository(session, Typed).keyset(tag=unique_name, order_by="data")


async def test_non_finite_floats_only_where_storable(typed_db: Database, unique_name: str) -> None:
    """NaN/±inf filter a float column where the backend stores them and are client errors elsewhere."""
    await _insert(typed_db, unique_name)
    async with typed_db.transaction() as session:
        repo = Repository(session, Typed)
        for value, storable in (
            ("inf", typed_db.backend != "mysql"),
            ("nan", typed_db.backend == "postgresql"),
        ):
            if storable:
                rows = await repo.list(Eq("ratio", value), tag=unique_name)
                assert rows
                assert {str(row.ratio) for row in rows} == {value}
            else:
                with pytest.raises(InvalidQueryError, match="'ratio'"):
                    await repo.list(Eq("ratio", value), tag=unique_name)
        assert await repo.count(tag=unique_name) == 36
