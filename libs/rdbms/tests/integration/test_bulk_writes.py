"""Repository bulk writes (insert, update, delete, upsert many) on PostgreSQL, MariaDB and SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import String, UniqueConstraint, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from internal_base.health import HealthRegistry
from internal_rdbms import (
    Base,
    Database,
    IntPrimaryKeyMixin,
    InvalidQueryError,
    RdbmsConflictError,
    RdbmsSettings,
    Repository,
    SoftDeleteMixin,
    TimestampMixin,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


class BulkItem(IntPrimaryKeyMixin, TimestampMixin, Base):
    """Unique ``sku``; ``qty`` and ``name`` to update."""

    __tablename__ = "bulk_items"
    sku: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(60))
    qty: Mapped[int] = mapped_column(default=0)


class BulkPair(Base):
    """A composite primary key and a unique (left, label) pair."""

    __tablename__ = "bulk_pairs"
    __table_args__ = (UniqueConstraint("left", "label"),)
    left: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    right: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    label: Mapped[str] = mapped_column(String(20))


class BulkNote(IntPrimaryKeyMixin, SoftDeleteMixin, Base):
    """A soft-deletable row."""

    __tablename__ = "bulk_notes"
    body: Mapped[str] = mapped_column(String(60))


MODELS = (BulkItem, BulkPair, BulkNote)
TABLES = [Base.metadata.tables[model.__tablename__] for model in MODELS]


@pytest.fixture(scope="session", params=["postgresql", "mysql", "sqlite"])
def bulk_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database URL per backend (a file for SQLite)."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("bulk") / "bulk.db"
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")
    return url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def bulk_db(bulk_url: str) -> AsyncIterator[Database]:
    """The test tables on each backend."""
    database = Database(
        RdbmsSettings(url=bulk_url, pool_size=3, max_overflow=2, pool_timeout=30),
        health_registry=HealthRegistry(cache_ttl=0),
    )
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: Base.metadata.create_all(sync, tables=TABLES))
    yield database
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: Base.metadata.drop_all(sync, tables=TABLES))
    await database.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def db(bulk_db: Database) -> AsyncIterator[Database]:
    """The backend's database with empty test tables."""
    async with bulk_db.transaction() as session:
        for table in reversed(TABLES):
            await session.execute(delete(table))
    yield bulk_db


def _items(count: int, start: int = 0) -> list[dict[str, object]]:
    return [{"sku": f"sku-{i}", "name": f"item {i}", "qty": i} for i in range(start, start + count)]


async def _state(db: Database) -> dict[str, tuple[str, int]]:
    async with db.session() as session:
        rows = (await session.execute(select(BulkItem.sku, BulkItem.name, BulkItem.qty))).all()
    return {sku: (name, qty) for sku, name, qty in rows}


# -- insert_many ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["auto", "executemany"])
async def test_insert_many_inserts_every_row_with_python_defaults(db: Database, method: str) -> None:
    """All rows land, in chunks; ``created_at``/``updated_at`` come from the Python defaults."""
    before = datetime.now(UTC) - timedelta(seconds=1)
    async with db.transaction() as session:
        count = await Repository(session, BulkItem).insert_many(_items(2_500), chunk_size=700, method=method)  # type: ignore[arg-type]
    assert count == 2_500
    state = await _state(db)
    assert len(state) == 2_500
    assert state["sku-2499"] == ("item 2499", 2499)
    async with db.session() as session:
        oldest = (
            (await session.execute(select(BulkItem.created_at).order_by(BulkItem.created_at)))
            .scalars()
            .first()
        )
    assert oldest is not None
    assert oldest >= before


async def test_insert_many_copy_on_postgresql_joins_the_transaction(db: Database) -> None:
    """COPY runs in the caller's transaction: a rollback keeps nothing; elsewhere 'copy' is a clear error."""
    if db.backend != "postgresql":
        async with db.transaction() as session:
            with pytest.raises(InvalidQueryError, match="needs PostgreSQL"):
                await Repository(session, BulkItem).insert_many(_items(3), method="copy")
        return

    class Boom(Exception):
        pass

    async def copy_then_fail() -> None:
        async with db.transaction() as session:
            assert await Repository(session, BulkItem).insert_many(_items(50), method="copy") == 50
            assert len((await session.execute(select(BulkItem.id))).all()) == 50
            raise Boom

    with pytest.raises(Boom):
        await copy_then_fail()
    assert await _state(db) == {}
    async with db.transaction() as session:
        await Repository(session, BulkItem).insert_many(_items(50), method="copy")
    assert len(await _state(db)) == 50


@pytest.mark.parametrize("method", ["executemany", "copy"])
async def test_insert_many_conflict_is_translated(db: Database, method: str) -> None:
    """A duplicate unique value in a batch is an RdbmsConflictError naming the constraint (COPY too)."""
    if method == "copy" and db.backend != "postgresql":
        return
    rows = [*_items(3), {"sku": "sku-1", "name": "again", "qty": 9}]
    with pytest.raises(RdbmsConflictError) as caught:
        async with db.transaction() as session:
            await Repository(session, BulkItem).insert_many(rows, method=method)  # type: ignore[arg-type]
    if db.backend != "sqlite":
        assert caught.value.constraint is not None
        assert "sku" in caught.value.constraint
    assert "again" not in str(caught.value)
    assert await _state(db) == {}
    async with db.transaction() as session:  # the connection is usable again
        assert await Repository(session, BulkItem).insert_many(_items(2), method=method) == 2  # type: ignore[arg-type]


async def test_insert_many_empty_batch_does_nothing(db: Database) -> None:
    """No rows: 0, no statement."""
    async with db.transaction() as session:
        assert await Repository(session, BulkItem).insert_many([]) == 0


# -- upsert_many ---------------------------------------------------------------------------------


async def test_upsert_many_inserts_and_updates_by_unique_key(db: Database) -> None:
    """Existing keys are updated, new ones inserted; ``updated_at`` moves on update."""
    async with db.transaction() as session:
        await Repository(session, BulkItem).insert_many(_items(3))
    async with db.session() as session:
        old = (await session.execute(select(BulkItem.updated_at).where(BulkItem.sku == "sku-1"))).scalar_one()
    rows = [{"sku": "sku-1", "name": "renamed", "qty": 100}, {"sku": "sku-9", "name": "new", "qty": 9}]
    async with db.transaction() as session:
        assert await Repository(session, BulkItem).upsert_many(rows, key="sku") == 2
    state = await _state(db)
    assert state == {
        "sku-0": ("item 0", 0),
        "sku-1": ("renamed", 100),
        "sku-2": ("item 2", 2),
        "sku-9": ("new", 9),
    }
    async with db.session() as session:
        new = (await session.execute(select(BulkItem.updated_at).where(BulkItem.sku == "sku-1"))).scalar_one()
    assert new > old


async def test_upsert_many_duplicate_keys_in_one_batch_last_wins(db: Database) -> None:
    """Same key twice in one batch: one row, with the values of the last occurrence, on every backend."""
    async with db.transaction() as session:
        await Repository(session, BulkItem).insert_many(_items(1))
    rows = [
        {"sku": "sku-0", "name": "first", "qty": 1},
        {"sku": "sku-5", "name": "five-a", "qty": 5},
        {"sku": "sku-0", "name": "last", "qty": 2},
        {"sku": "sku-5", "name": "five-b", "qty": 6},
    ]
    async with db.transaction() as session:
        result = await Repository(session, BulkItem).upsert_many(rows, key="sku", returning=True)
        assert [(item.sku, item.name, item.qty) for item in result] == [
            ("sku-0", "last", 2),
            ("sku-5", "five-b", 6),
        ]
    assert await _state(db) == {"sku-0": ("last", 2), "sku-5": ("five-b", 6)}


async def test_upsert_many_returning_gives_objects_in_input_order(db: Database) -> None:
    """``returning=True``: one refreshed ORM object per distinct key, ids filled, in input order."""
    async with db.transaction() as session:
        await Repository(session, BulkItem).insert_many(_items(2))
    rows = [{"sku": "sku-7", "name": "seven", "qty": 7}, {"sku": "sku-0", "name": "zero", "qty": 70}]
    async with db.transaction() as session:
        repo = Repository(session, BulkItem)
        existing = await repo.first(sku="sku-0")
        assert existing is not None
        assert existing.name == "item 0"
        found = await repo.upsert_many(rows, key="sku", returning=True)
        assert [(item.sku, item.name, item.qty) for item in found] == [
            ("sku-7", "seven", 7),
            ("sku-0", "zero", 70),
        ]
        assert all(isinstance(item.id, int) for item in found)
        assert existing.name == "zero"  # the identity-map object is refreshed


async def test_upsert_many_update_subset_and_do_nothing(db: Database) -> None:
    """``update=["qty"]`` leaves ``name``; ``update=[]`` keeps existing rows and still inserts new ones."""
    async with db.transaction() as session:
        await Repository(session, BulkItem).insert_many(_items(1))
    async with db.transaction() as session:
        repo = Repository(session, BulkItem)
        await repo.upsert_many([{"sku": "sku-0", "name": "ignored", "qty": 50}], key="sku", update=["qty"])
        await repo.upsert_many(
            [{"sku": "sku-0", "name": "x", "qty": 1}, {"sku": "sku-3", "name": "three", "qty": 3}],
            key="sku",
            update=[],
        )
    assert await _state(db) == {"sku-0": ("item 0", 50), "sku-3": ("three", 3)}


async def test_upsert_many_composite_key(db: Database) -> None:
    """A composite primary key as the conflict target."""
    async with db.transaction() as session:
        repo = Repository(session, BulkPair)
        await repo.upsert_many([{"left": 1, "right": 1, "label": "a"}, {"left": 1, "right": 2, "label": "b"}])
        await repo.upsert_many([{"left": 1, "right": 2, "label": "c"}, {"left": 1, "right": 2, "label": "d"}])
    async with db.session() as session:
        rows = (
            await session.execute(
                select(BulkPair.left, BulkPair.right, BulkPair.label).order_by(BulkPair.right)
            )
        ).all()
    assert [tuple(row) for row in rows] == [(1, 1, "a"), (1, 2, "d")]


async def test_upsert_many_joins_the_callers_transaction(db: Database) -> None:
    """Rolled back with the caller's transaction."""

    class Boom(Exception):
        pass

    async def upsert_then_fail() -> None:
        async with db.transaction() as session:
            await Repository(session, BulkItem).upsert_many(_items(5), key="sku")
            raise Boom

    with pytest.raises(Boom):
        await upsert_then_fail()
    assert await _state(db) == {}


@pytest.mark.parametrize(
    ("rows", "kwargs", "message"),
    [
        (
            [{"sku": "a", "name": "n", "qty": 1, "colour": "red"}],
            {"key": "sku"},
            r"unknown field\(s\) \['colour'\]",
        ),
        ([{"sku": "a", "name": "n"}], {"key": []}, "needs at least one field"),
        ([{"sku": "a", "name": "n"}], {"key": "name"}, "not the primary key or a unique constraint"),
        ([{"sku": "a", "name": "n"}], {"key": "nope"}, r"unknown key field\(s\) \['nope'\]"),
        ([{"name": "n", "qty": 1}], {"key": "sku"}, r"key field\(s\) \['sku'\]"),
        ([{"sku": "a", "name": "n"}, {"sku": "b", "qty": 1}], {"key": "sku"}, "row 1 has fields"),
        (["not a row"], {"key": "sku"}, "row 0 is a str"),
        ([{"sku": "a", "name": "n"}], {"key": "sku", "update": ["qty"]}, r"update field\(s\) \['qty'\]"),
        ([{"sku": ["un", "hashable"], "name": "n"}], {"key": "sku"}, "hashable"),
    ],
)
async def test_upsert_many_bad_input_is_a_clear_error(
    db: Database, rows: list[object], kwargs: dict[str, object], message: str
) -> None:
    """Unknown field, empty/unknown/non-unique key, missing key, mixed shapes, bad update list."""
    async with db.transaction() as session:
        with pytest.raises(InvalidQueryError, match=message):
            await Repository(session, BulkItem).upsert_many(rows, **kwargs)  # type: ignore[call-overload]


# -- update_many ---------------------------------------------------------------------------------


async def test_update_many_by_primary_key_and_by_unique_key(db: Database) -> None:
    """Each row updates its own values; missing keys are skipped and not counted."""
    async with db.transaction() as session:
        await Repository(session, BulkItem).insert_many(_items(4))
    async with db.session() as session:
        ids = dict((await session.execute(select(BulkItem.sku, BulkItem.id))).all())
    async with db.transaction() as session:
        repo = Repository(session, BulkItem)
        count = await repo.update_many(
            [{"id": ids["sku-0"], "qty": 10}, {"id": ids["sku-1"], "qty": 11}, {"id": 10**9, "qty": 0}]
        )
        assert count == 2
        assert (
            await repo.update_many(
                [{"sku": "sku-2", "name": "two"}, {"sku": "sku-x", "name": "x"}], key="sku"
            )
            == 1
        )
    assert await _state(db) == {
        "sku-0": ("item 0", 10),
        "sku-1": ("item 1", 11),
        "sku-2": ("two", 2),
        "sku-3": ("item 3", 3),
    }


async def test_update_many_duplicate_keys_last_wins_and_returning(db: Database) -> None:
    """A key twice in one batch: the last values win; ``returning`` gives refreshed objects in input order."""
    async with db.transaction() as session:
        await Repository(session, BulkItem).insert_many(_items(3))
    rows = [
        {"sku": "sku-2", "qty": 1},
        {"sku": "sku-0", "qty": 5},
        {"sku": "sku-2", "qty": 7},
    ]
    async with db.transaction() as session:
        found = await Repository(session, BulkItem).update_many(rows, key="sku", returning=True)
        assert [(item.sku, item.qty) for item in found] == [("sku-2", 7), ("sku-0", 5)]
    assert (await _state(db))["sku-2"] == ("item 2", 7)


async def test_update_many_sets_updated_at_and_composite_keys(db: Database) -> None:
    """``onupdate`` columns move; composite primary keys work."""
    async with db.transaction() as session:
        await Repository(session, BulkItem).insert_many(_items(1))
        await Repository(session, BulkPair).insert_many([{"left": 1, "right": 2, "label": "a"}])
    async with db.session() as session:
        old = (await session.execute(select(BulkItem.updated_at))).scalar_one()
    async with db.transaction() as session:
        assert await Repository(session, BulkItem).update_many([{"sku": "sku-0", "qty": 3}], key="sku") == 1
        assert await Repository(session, BulkPair).update_many([{"left": 1, "right": 2, "label": "z"}]) == 1
    async with db.session() as session:
        new = (await session.execute(select(BulkItem.updated_at))).scalar_one()
        label = (await session.execute(select(BulkPair.label))).scalar_one()
    assert new > old
    assert label == "z"


async def test_update_many_conflict_is_translated_and_rolled_back(db: Database) -> None:
    """A unique field set to another row's value: RdbmsConflictError; the rollback undoes earlier work."""
    async with db.transaction() as session:
        await Repository(session, BulkItem).insert_many(_items(2))
    async with db.session() as session:
        ids = dict((await session.execute(select(BulkItem.sku, BulkItem.id))).all())

    async def update_twice() -> None:
        async with db.transaction() as session:
            repo = Repository(session, BulkItem)
            await repo.update_many([{"sku": "sku-0", "qty": 99}], key="sku")
            await repo.update_many([{"id": ids["sku-0"], "sku": "sku-1"}])

    with pytest.raises(RdbmsConflictError):
        await update_twice()
    assert await _state(db) == {"sku-0": ("item 0", 0), "sku-1": ("item 1", 1)}


@pytest.mark.parametrize(
    ("rows", "kwargs", "message"),
    [
        ([{"id": 1}], {}, "nothing to update"),
        ([{"id": 1, "qty": 1, "bogus": 2}], {}, r"unknown field\(s\) \['bogus'\]"),
        ([{"qty": 1}], {}, r"key field\(s\) \['id'\]"),
        ([{"id": 1, "qty": 1}, {"id": 2, "name": "x"}], {}, "every row of one batch needs the same fields"),
        ([{"id": 1, "qty": 1}], {"key": ()}, "needs at least one field"),
        ({"id": 1, "qty": 1}, {}, "not a single dict"),
    ],
)
async def test_update_many_bad_input_is_a_clear_error(
    db: Database, rows: object, kwargs: dict[str, object], message: str
) -> None:
    """No field to set, unknown field, missing key, mixed shapes, empty key, a single mapping."""
    async with db.transaction() as session:
        with pytest.raises(InvalidQueryError, match=message):
            await Repository(session, BulkItem).update_many(rows, **kwargs)  # type: ignore[call-overload]


async def test_update_many_skips_soft_deleted_rows_unless_asked(db: Database) -> None:
    """Soft-deleted rows are not updated unless ``include_deleted=True``."""
    async with db.transaction() as session:
        repo = Repository(session, BulkNote)
        await repo.insert_many([{"body": "a"}, {"body": "b"}])
        ids = sorted((await session.execute(select(BulkNote.id))).scalars().all())
        await repo.delete_many([ids[0]])
        assert await repo.update_many([{"id": i, "body": "x"} for i in ids]) == 1
        assert await repo.update_many([{"id": i, "body": "y"} for i in ids], include_deleted=True) == 2


# -- delete_many ---------------------------------------------------------------------------------


async def test_delete_many_counts_and_returns_deleted_keys(db: Database) -> None:
    """Hard delete by primary key: repeated and missing keys are harmless; ``returning`` gives the keys."""
    async with db.transaction() as session:
        await Repository(session, BulkItem).insert_many(_items(5))
    async with db.session() as session:
        ids = sorted((await session.execute(select(BulkItem.id))).scalars().all())
    async with db.transaction() as session:
        repo = Repository(session, BulkItem)
        assert await repo.delete_many([ids[0], ids[0], 10**9]) == 1
        assert sorted(await repo.delete_many([ids[1], ids[2], 10**9], returning=True)) == [ids[1], ids[2]]
        assert await repo.delete_many([]) == 0
    assert sorted(await _state(db)) == ["sku-3", "sku-4"]


async def test_delete_many_soft_and_hard(db: Database) -> None:
    """Soft-delete models are soft-deleted (live rows only) unless ``hard=True``."""
    async with db.transaction() as session:
        repo = Repository(session, BulkNote)
        await repo.insert_many([{"body": "a"}, {"body": "b"}, {"body": "c"}])
        ids = sorted((await session.execute(select(BulkNote.id))).scalars().all())
    async with db.transaction() as session:
        repo = Repository(session, BulkNote)
        assert sorted(await repo.delete_many(ids[:2], returning=True)) == ids[:2]
        assert await repo.delete_many(ids[:2]) == 0  # already soft-deleted
        assert [note.id for note in await repo.list()] == [ids[2]]
        assert await repo.count(include_deleted=True) == 3
        assert await repo.delete_many(ids, hard=True) == 3
        assert await repo.count(include_deleted=True) == 0


async def test_delete_many_composite_keys(db: Database) -> None:
    """Composite keys are tuples."""
    async with db.transaction() as session:
        repo = Repository(session, BulkPair)
        await repo.insert_many([{"left": 1, "right": r, "label": f"l{r}"} for r in range(3)])
        assert sorted(await repo.delete_many([(1, 0), (1, 2), (9, 9)], returning=True)) == [(1, 0), (1, 2)]
        assert await repo.count() == 1


@pytest.mark.parametrize(
    ("model", "keys", "message"),
    [
        (BulkPair, [1], "must be a tuple of 2 values"),
        (BulkPair, [(1, 2, 3)], "must be a tuple of 2 values"),
        (BulkItem, [(1,)], "is a tuple"),
        (BulkItem, [None], "is null"),
        (BulkItem, "12", "not a single str"),
    ],
)
async def test_delete_many_bad_keys_are_a_clear_error(
    db: Database, model: type[Base], keys: object, message: str
) -> None:
    """Wrong key shape, null key, or a string instead of an iterable of keys."""
    async with db.transaction() as session:
        with pytest.raises(InvalidQueryError, match=message):
            await Repository(session, model).delete_many(keys)  # type: ignore[call-overload]
