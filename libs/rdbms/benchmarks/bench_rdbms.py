"""internal_rdbms against hand-written SQLAlchemy on the same engine, bulk writes against the raw
statements, and keyset against offset pagination by page depth, for the harness in ``benchmarks/``.

``suite(ctx)`` yields :class:`commons_bench.Benchmark` rows; the harness runs both variants
interleaved, with warm-up and medians.

- get / list: ``Repository.get`` against ``AsyncSession.get``, ``Repository.list`` (filter, order,
  limit 50) against the same ORM ``select`` written by hand; both hydrate ORM objects.
- bulk: 10,000 rows per operation, in a transaction that is rolled back (the table keeps its
  seed). ``Repository.insert_many`` (COPY on PostgreSQL, executemany elsewhere, and the executemany
  path alone) against a Core ``insert`` executemany; ``Repository.upsert_many`` (half the keys
  exist) against the dialect's own upsert statement executemany.
- curve: an offset page (``Repository.page``, ``LIMIT/OFFSET``, raw column) against a keyset page
  (``Repository.keyset``, commons column) at increasing depth. On PostgreSQL the table is built
  with ``generate_series`` to 1,000,050 rows and the depths reach 1,000,000; elsewhere 20,000 rows.

The database is ``COMMONS_BENCH_RDBMS_URL``, else ``COMMONS_POSTGRES_URL``, else a temporary SQLite
file (the ``bench_rdbms_*`` tables are created there and dropped afterwards).
Run: ``./pants run benchmarks:run -- --only rdbms``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Index, String, Table, insert, select, text
from sqlalchemy.orm import Mapped, mapped_column

from commons_bench import BenchContext, Benchmark, CurvePoint, Target
from internal_rdbms import (
    Base,
    Database,
    IntPrimaryKeyMixin,
    Range,
    RdbmsSettings,
    Repository,
    parse_order,
)
from internal_rdbms._cursor import codec_for, encode_cursor
from internal_rdbms._filters import sort_keys

__all__ = ["suite"]

URL_ENV = "COMMONS_BENCH_RDBMS_URL"
ROWS = 20_000
BULK = 10_000
DEPTHS = (100, 5_000, 19_000)
PG_DEPTHS = (100, 10_000, 100_000, 1_000_000)
PG_DEEP_ROWS = 1_000_050
_CURVE = "page of 50: keyset (commons) vs offset (raw) by page depth"


class BenchRow(IntPrimaryKeyMixin, Base):
    """A row with a low-cardinality sort column (many duplicates)."""

    __tablename__ = "bench_rdbms_rows"
    __table_args__ = (Index("ix_bench_rdbms_rows_bucket_id", "bucket", "id"),)
    bucket: Mapped[int]
    name: Mapped[str] = mapped_column(String(40))


class BenchBulk(Base):
    """The bulk-write target: an explicit integer key (upserts name it)."""

    __tablename__ = "bench_rdbms_bulk"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    bucket: Mapped[int]
    name: Mapped[str] = mapped_column(String(40))


class BenchDeep(Base):
    """The deep-pagination table on PostgreSQL (built with generate_series)."""

    __tablename__ = "bench_rdbms_deep"
    __table_args__ = (Index("ix_bench_rdbms_deep_bucket_id", "bucket", "id"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    bucket: Mapped[int]
    name: Mapped[str] = mapped_column(String(40))


_TABLES = [Base.metadata.tables[m.__tablename__] for m in (BenchRow, BenchBulk, BenchDeep)]


def _times(op: Callable[[], Awaitable[None]]) -> Callable[[int], Awaitable[None]]:
    async def run(n: int) -> None:
        for _ in range(n):
            await op()

    return run


async def _seed(db: Database) -> None:
    tables = _TABLES if db.backend == "postgresql" else _TABLES[:2]
    async with db.engine.begin() as connection:
        await connection.run_sync(lambda sync: Base.metadata.create_all(sync, tables=tables))
    async with db.transaction() as session:
        if not await Repository(session, BenchRow).exists():
            await Repository(session, BenchRow).insert_many(
                [{"bucket": i % 50, "name": f"row-{i}"} for i in range(ROWS)]
            )
        if not await Repository(session, BenchBulk).exists():
            await Repository(session, BenchBulk).insert_many(
                [{"id": i, "bucket": i % 50, "name": f"seed-{i}"} for i in range(BULK)]
            )
    if db.backend == "postgresql":
        async with db.transaction() as session:
            if not await Repository(session, BenchDeep).exists():
                await session.execute(
                    text(
                        "INSERT INTO bench_rdbms_deep (id, bucket, name) "
                        "SELECT g, g % 50, 'row-' || g FROM generate_series(1, :rows) AS g"
                    ),
                    {"rows": PG_DEEP_ROWS},
                )
        async with db.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("VACUUM ANALYZE bench_rdbms_deep"))
            await connection.execute(text("ANALYZE bench_rdbms_rows"))


async def _drop(db: Database) -> None:
    async with db.engine.begin() as connection:
        await connection.run_sync(lambda sync: Base.metadata.drop_all(sync, tables=_TABLES))


def _crud(db: Database) -> list[Benchmark]:
    async def raw_get() -> None:
        async with db.session() as session:
            await session.get(BenchRow, 1234)

    async def commons_get() -> None:
        async with db.session() as session:
            await Repository(session, BenchRow).get(1234)

    async def raw_list() -> None:
        statement = (
            select(BenchRow).where(BenchRow.bucket >= 10).order_by(BenchRow.bucket, BenchRow.id).limit(50)
        )
        async with db.session() as session:
            (await session.scalars(statement)).all()

    async def commons_list() -> None:
        async with db.session() as session:
            await Repository(session, BenchRow).list(Range("bucket", ge=10), order_by="bucket", limit=50)

    return [
        Benchmark(
            "get by primary key",
            raw=_times(raw_get),
            commons=_times(commons_get),
            target=Target.throughput_ratio(0.9),
            # Many short rounds: each raw/commons pair of rounds sees the same machine load, so the
            # median ratio measures the library (~5 us of Python per call), not the neighbours.
            ops=40,
            rounds=75,
            unit="get",
            note="raw: AsyncSession.get in a new session; commons: Repository.get in a new session",
        ),
        Benchmark(
            "list 50 filtered + ordered",
            raw=_times(raw_list),
            commons=_times(commons_list),
            target=Target.throughput_ratio(0.9),
            ops=20,
            rounds=75,
            unit="list",
            note="raw: the same ORM select (where, order by bucket, id, limit 50) written by hand",
        ),
    ]


def _bulk_rows(start: int) -> list[dict[str, Any]]:
    return [{"id": i, "bucket": i % 50, "name": f"bulk-{i}"} for i in range(start, start + BULK)]


def _raw_upsert(backend: str, table: Table) -> Any:
    if backend == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(table)
        return pg.on_conflict_do_update(
            index_elements=[table.c.id], set_={"bucket": pg.excluded.bucket, "name": pg.excluded.name}
        )
    if backend == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lite = sqlite_insert(table)
        return lite.on_conflict_do_update(
            index_elements=[table.c.id], set_={"bucket": lite.excluded.bucket, "name": lite.excluded.name}
        )
    from sqlalchemy.dialects.mysql import insert as mysql_insert

    my = mysql_insert(table)
    return my.on_duplicate_key_update({"bucket": my.inserted.bucket, "name": my.inserted.name})


def _bulk(db: Database) -> list[Benchmark]:
    table = BenchBulk.__table__
    assert isinstance(table, Table)
    fresh = _bulk_rows(BULK)  # keys not in the table: plain inserts
    half = _bulk_rows(BULK // 2)  # half the keys exist: 5,000 updates and 5,000 inserts
    upsert = _raw_upsert(db.backend, table)

    async def raw_insert() -> None:
        async with db.session() as session:  # closed without commit: rolled back
            await session.execute(insert(table), fresh)

    async def commons_insert() -> None:
        async with db.session() as session:
            await Repository(session, BenchBulk).insert_many(fresh)

    async def commons_insert_executemany() -> None:
        async with db.session() as session:
            await Repository(session, BenchBulk).insert_many(fresh, method="executemany")

    async def raw_upsert() -> None:
        async with db.session() as session:
            await session.execute(upsert, half)

    async def commons_upsert() -> None:
        async with db.session() as session:
            await Repository(session, BenchBulk).upsert_many(half)

    common: dict[str, Any] = {"ops": 3, "min_ops": 1, "rounds": 7, "unit": "batch"}
    return [
        Benchmark(
            f"bulk insert {BULK:,} rows",
            raw=_times(raw_insert),
            commons=_times(commons_insert),
            target=Target.cost_ratio(1.25),
            note="raw: Core insert(table) executemany; commons: insert_many (COPY on PostgreSQL)",
            **common,
        ),
        Benchmark(
            f"bulk insert {BULK:,} rows, executemany path",
            raw=_times(raw_insert),
            commons=_times(commons_insert_executemany),
            target=Target.cost_ratio(1.25),
            note="commons: insert_many(method='executemany'), to show what COPY saves",
            **common,
        ),
        Benchmark(
            f"upsert_many {BULK:,} rows (half existing)",
            raw=_times(raw_upsert),
            commons=_times(commons_upsert),
            target=Target.cost_ratio(1.25),
            note="raw: the dialect's ON CONFLICT / ON DUPLICATE KEY statement executemany; rolled back",
            **common,
        ),
    ]


async def _depth(db: Database, model: type[Any], depth: int) -> Benchmark:
    async with db.session() as session:  # the cursor just after row ``depth - 1``, signed like keyset()'s
        previous = await Repository(session, model).page(
            order_by="bucket", limit=1, offset=depth - 1, with_total=False
        )
        keys = sort_keys(model, parse_order("bucket"))
        cursor = encode_cursor(model, keys, previous.items[0], codec_for(session, None))

    async def offset_page() -> None:
        async with db.session() as session:
            await Repository(session, model).page(order_by="bucket", limit=50, offset=depth, with_total=False)

    async def keyset_page() -> None:
        async with db.session() as session:
            await Repository(session, model).keyset(order_by="bucket", limit=50, cursor=cursor)

    deep = depth >= 100_000
    return Benchmark(
        f"page of 50 at depth {depth:,}: offset vs keyset",
        raw=_times(offset_page),
        commons=_times(keyset_page),
        target=Target.cost_ratio(0.2 if deep else 1.0 if depth >= 10_000 else 3.0),
        ops=3 if deep else 20,
        rounds=5 if deep else None,
        unit="page",
        curve=CurvePoint(_CURVE, "depth", depth),
    )


@asynccontextmanager
async def suite(ctx: BenchContext) -> AsyncIterator[list[Benchmark]]:
    """Repository against hand-written ORM, bulk writes, and keyset against offset by depth."""
    with tempfile.TemporaryDirectory() as tmp:
        url = (
            os.environ.get(URL_ENV)
            or os.environ.get("COMMONS_POSTGRES_URL")
            or f"sqlite:///{Path(tmp) / 'bench.db'}"
        )
        async with Database(RdbmsSettings(url=url, pool_size=5, health_check=False)) as db:
            await _seed(db)
            try:
                if db.backend == "postgresql":
                    curve = [await _depth(db, BenchDeep, depth) for depth in PG_DEPTHS]
                else:
                    curve = [await _depth(db, BenchRow, depth) for depth in DEPTHS]
                yield [*_crud(db), *_bulk(db), *curve]
            finally:
                await _drop(db)


if __name__ == "__main__":  # pragma: no cover - a shortcut for `./pants run benchmarks:run -- --only rdbms`
    from commons_bench.__main__ import main

    raise SystemExit(main(["--only", "rdbms", *sys.argv[1:]]))
