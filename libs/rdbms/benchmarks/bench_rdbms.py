"""internal_rdbms against SQLAlchemy Core on the same engine, and keyset against offset pagination by
page depth, for the harness in ``benchmarks/``.

``suite(ctx)`` yields :class:`commons_bench.Benchmark` rows; the harness runs both variants
interleaved, with warm-up and medians. The throughput rows compare a repository call with the
equivalent Core statement (the targets are low because the repository hydrates ORM objects and Core
returns tuples). The curve compares an offset page (``Repository.page``, ``LIMIT/OFFSET``, in the raw
column) with a keyset page (``Repository.keyset``, in the commons column) at increasing depth: keyset
may cost up to 3x offset near the start and must not cost more than offset deep down.

The database is a temporary SQLite file unless ``COMMONS_BENCH_RDBMS_URL`` names another one (the
table ``bench_rdbms_rows`` is created there and dropped afterwards).
Run: ``./pants run benchmarks:run -- --only rdbms``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import Index, String, select
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
DEPTHS = (100, 5_000, 19_000)
_CURVE = "page of 50: keyset (commons) vs offset (raw) by page depth"


class BenchRow(IntPrimaryKeyMixin, Base):
    """A row with a low-cardinality sort column (many duplicates)."""

    __tablename__ = "bench_rdbms_rows"
    __table_args__ = (Index("ix_bench_rdbms_rows_bucket_id", "bucket", "id"),)
    bucket: Mapped[int]
    name: Mapped[str] = mapped_column(String(40))


def _times(op: Callable[[], Awaitable[None]]) -> Callable[[int], Awaitable[None]]:
    async def run(n: int) -> None:
        for _ in range(n):
            await op()

    return run


async def _seed(db: Database) -> None:
    async with db.engine.begin() as connection:
        await connection.run_sync(
            lambda sync: Base.metadata.create_all(sync, tables=[Base.metadata.tables[BenchRow.__tablename__]])
        )
    async with db.transaction() as session:
        if await Repository(session, BenchRow).exists():
            return
        await session.run_sync(
            lambda sync: sync.bulk_insert_mappings(
                BenchRow.__mapper__, [{"bucket": i % 50, "name": f"row-{i}"} for i in range(ROWS)]
            )
        )


async def _drop(db: Database) -> None:
    async with db.engine.begin() as connection:
        await connection.run_sync(
            lambda sync: Base.metadata.drop_all(sync, tables=[Base.metadata.tables[BenchRow.__tablename__]])
        )


def _crud(db: Database) -> list[Benchmark]:
    table = BenchRow.__table__

    async def raw_get() -> None:
        async with db.engine.connect() as connection:
            (await connection.execute(select(table).where(table.c.id == 1234))).one()

    async def commons_get() -> None:
        async with db.session() as session:
            await Repository(session, BenchRow).get(1234)

    async def raw_list() -> None:
        statement = select(table).where(table.c.bucket >= 10).order_by(table.c.bucket, table.c.id).limit(50)
        async with db.engine.connect() as connection:
            (await connection.execute(statement)).all()

    async def commons_list() -> None:
        async with db.session() as session:
            await Repository(session, BenchRow).list(Range("bucket", ge=10), order_by="bucket", limit=50)

    return [
        Benchmark(
            "get by primary key",
            raw=_times(raw_get),
            commons=_times(commons_get),
            target=Target.throughput_ratio(0.4),
            ops=200,
            unit="get",
            note="raw: a Core select on the same engine; commons: Repository.get in a session",
        ),
        Benchmark(
            "list 50 filtered + ordered",
            raw=_times(raw_list),
            commons=_times(commons_list),
            target=Target.throughput_ratio(0.25),
            ops=100,
            unit="list",
        ),
    ]


async def _depth(db: Database, depth: int) -> Benchmark:
    async with db.session() as session:  # the cursor just after row ``depth - 1``, signed like keyset()'s
        previous = await Repository(session, BenchRow).page(order_by="bucket", limit=1, offset=depth - 1)
        keys = sort_keys(BenchRow, parse_order("bucket"))
        cursor = encode_cursor(BenchRow, keys, previous.items[0], codec_for(session, None))

    async def offset_page() -> None:
        async with db.session() as session:
            await Repository(session, BenchRow).page(
                order_by="bucket", limit=50, offset=depth, with_total=False
            )

    async def keyset_page() -> None:
        async with db.session() as session:
            await Repository(session, BenchRow).keyset(order_by="bucket", limit=50, cursor=cursor)

    return Benchmark(
        f"page of 50 at depth {depth}: offset vs keyset",
        raw=_times(offset_page),
        commons=_times(keyset_page),
        target=Target.cost_ratio(1.0 if depth >= 10_000 else 3.0),
        ops=20,
        unit="page",
        curve=CurvePoint(_CURVE, "depth", depth),
    )


@asynccontextmanager
async def suite(ctx: BenchContext) -> AsyncIterator[list[Benchmark]]:
    """Repository against Core, and keyset against offset pagination at three depths."""
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get(URL_ENV) or f"sqlite:///{Path(tmp) / 'bench.db'}"
        async with Database(RdbmsSettings(url=url, pool_size=5, health_check=False)) as db:
            await _seed(db)
            try:
                yield [*_crud(db), *[await _depth(db, depth) for depth in DEPTHS]]
            finally:
                await _drop(db)


if __name__ == "__main__":  # pragma: no cover - a shortcut for `./pants run benchmarks:run -- --only rdbms`
    from commons_bench.__main__ import main

    raise SystemExit(main(["--only", "rdbms", *sys.argv[1:]]))
