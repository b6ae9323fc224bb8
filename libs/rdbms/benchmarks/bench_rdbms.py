"""internal_rdbms against SQLAlchemy Core on the same engine, and keyset against offset by page depth.

Each benchmark returns::

    {"operation": str, "raw": float, "commons": float, "unit": str, "target": float, "ratio": float}

``ops/s`` rows compare a repository call with the equivalent Core statement (``target`` is the
minimum commons/raw ratio: the ORM hydrates objects, Core returns tuples). ``ms/page`` rows compare
an offset page (raw: ``Repository.page``, ``LIMIT/OFFSET``) with a keyset page (commons:
``Repository.keyset``) at increasing depth; ``target`` is the maximum keyset/offset time ratio.

Run directly: ``python libs/rdbms/benchmarks/bench_rdbms.py [database-url]`` (default: a temporary
SQLite file).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import Index, String, select
from sqlalchemy.orm import Mapped, mapped_column

from internal_rdbms import (
    Base,
    Database,
    DatabaseSettings,
    IntPrimaryKeyMixin,
    Range,
    Repository,
    parse_order,
)
from internal_rdbms._filters import sort_keys
from internal_rdbms._pagination import encode_cursor

__all__ = ["benchmarks", "main"]

Result = dict[str, object]
Op = Callable[[], Awaitable[None]]
ROWS = 20_000
ROUNDS = 7


class BenchRow(IntPrimaryKeyMixin, Base):
    """A row with a low-cardinality sort column (many duplicates)."""

    __tablename__ = "bench_rdbms_rows"
    __table_args__ = (Index("ix_bench_rdbms_rows_bucket_id", "bucket", "id"),)
    bucket: Mapped[int]
    name: Mapped[str] = mapped_column(String(40))


async def _rate(op: Op, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        await op()
    return count / (time.perf_counter() - start)


async def _compare(raw: Op, commons: Op, count: int) -> tuple[float, float, float]:
    await raw()
    await commons()
    raw_rates: list[float] = []
    commons_rates: list[float] = []
    for i in range(ROUNDS):
        pair = [(raw_rates, raw), (commons_rates, commons)]
        for rates, op in pair if i % 2 == 0 else reversed(pair):
            rates.append(await _rate(op, count))
    ratios = [c / r for r, c in zip(raw_rates, commons_rates, strict=True)]
    return statistics.median(raw_rates), statistics.median(commons_rates), statistics.median(ratios)


def _result(operation: str, measured: tuple[float, float, float], unit: str, target: float) -> Result:
    raw, commons, ratio = measured
    return {
        "operation": operation,
        "raw": round(raw, 3),
        "commons": round(commons, 3),
        "unit": unit,
        "target": target,
        "ratio": round(ratio, 3),
    }


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


async def _crud(db: Database) -> list[Result]:
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
        _result("get by primary key", await _compare(raw_get, commons_get, 200), "ops/s", 0.4),
        _result("list 50 filtered + ordered", await _compare(raw_list, commons_list, 100), "ops/s", 0.25),
    ]


async def _depth(db: Database, depth: int) -> Result:
    async with db.session() as session:  # the cursor just after row ``depth - 1``
        previous = await Repository(session, BenchRow).page(order_by="bucket", limit=1, offset=depth - 1)
    cursor = encode_cursor(BenchRow, sort_keys(BenchRow, parse_order("bucket")), previous.items[0])

    async def raw_offset() -> None:
        async with db.session() as session:
            await Repository(session, BenchRow).page(
                order_by="bucket", limit=50, offset=depth, with_total=False
            )

    async def commons_keyset() -> None:
        async with db.session() as session:
            await Repository(session, BenchRow).keyset(order_by="bucket", limit=50, cursor=cursor)

    raw_rate, commons_rate, ratio = await _compare(raw_offset, commons_keyset, 20)
    # Report milliseconds per page (lower is better): time ratio = 1 / rate ratio.
    return _result(
        f"page of 50 at depth {depth}: offset vs keyset",
        (1000 / raw_rate, 1000 / commons_rate, 1 / ratio),
        "ms/page",
        1.0 if depth >= 10_000 else 3.0,
    )


async def benchmarks(url: str) -> list[Result]:
    """Run every benchmark against ``url`` and return the result rows."""
    settings = DatabaseSettings(url=url, pool_size=5)
    async with Database(settings, register_health=False) as db:
        await _seed(db)
        results = await _crud(db)
        for depth in (100, 5_000, 19_000):
            results.append(await _depth(db, depth))
        return results


def main(argv: list[str] | None = None) -> None:
    """Print one result row per line."""
    args = sys.argv[1:] if argv is None else argv
    with tempfile.TemporaryDirectory() as tmp:
        url = args[0] if args else f"sqlite:///{Path(tmp) / 'bench.db'}"
        for row in asyncio.run(benchmarks(url)):
            print(row)


if __name__ == "__main__":
    main()
