"""Keyset pages through the row-value seek on columns whose values the column type converts on bind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import Numeric, String, delete
from sqlalchemy.orm import Mapped, mapped_column

from internal_base.health import HealthRegistry
from internal_rdbms import Base, Database, RdbmsSettings, Repository
from internal_rdbms.base import UTCDateTime

pytestmark = pytest.mark.asyncio(loop_scope="session")


class RvKeyed(Base):
    """Sort keys of a converting type (aware UTC datetimes) and a scaled decimal."""

    __tablename__ = "rv_keyset_rows"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    label: Mapped[str] = mapped_column(String(10))


TABLE = Base.metadata.tables[RvKeyed.__tablename__]


@pytest.fixture(scope="session", params=["postgresql", "mysql", "sqlite"])
def rvk_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database URL per backend (a file for SQLite)."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("rvk") / "keyset.db"
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")
    return url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def db(rvk_url: str) -> AsyncIterator[Database]:
    """30 rows: timestamps with repeats (ties broken by id), prices with repeats."""
    database = Database(RdbmsSettings(url=rvk_url), health_registry=HealthRegistry(cache_ttl=0))
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: TABLE.create(sync, checkfirst=True))
    base = datetime(2026, 1, 1, 12, 0, 0, 250000, tzinfo=UTC)
    async with database.transaction() as session:
        await session.execute(delete(TABLE))
        await Repository(session, RvKeyed).insert_many(
            {"id": i, "at": base + timedelta(seconds=i // 3), "price": Decimal(i % 7) / 4, "label": "x"}
            for i in range(30)
        )
    yield database
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: TABLE.drop(sync))
    await database.aclose()


@pytest.mark.parametrize("order", ["at", "-at", "price", "-price", "at,price"])
async def test_keyset_pages_visit_every_row_once_in_order(db: Database, order: str) -> None:
    """Pages of 4 through the row-value seek give exactly the rows of one ordered list."""
    async with db.session() as session:
        repo = Repository(session, RvKeyed)
        expected = [row.id for row in await repo.list(order_by=order)]
        seen: list[int] = []
        cursor = None
        for _ in range(20):
            page = await repo.keyset(order_by=order, limit=4, cursor=cursor)
            seen.extend(row.id for row in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
    assert seen == expected
    assert len(seen) == 30
