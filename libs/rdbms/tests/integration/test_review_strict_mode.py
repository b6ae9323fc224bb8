"""Integration: on MySQL/MariaDB a write never loses data, whatever the server's ``sql_mode``.

A server (or a connection's ``init_command``) without a strict mode silently truncates a string
longer than its ``VARCHAR(n)`` and clamps an integer beyond the column's width, answering with a
warning nobody reads. These tests simulate such a server with ``init_command=SET SESSION
sql_mode=''`` on the URL of this process's real MariaDB/MySQL database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest
import pytest_asyncio
from sqlalchemy import Integer, String, select, text
from sqlalchemy.orm import Mapped, mapped_column

from internal_rdbms import Base, Database, IntPrimaryKeyMixin, QueryError, RdbmsSettings, Repository

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Narrow(IntPrimaryKeyMixin, Base):
    """A five-character name and a 32-bit number; ``tag`` isolates the rows of each test."""

    __tablename__ = "rv_narrow"
    tag: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(5))
    number: Mapped[int] = mapped_column(Integer, default=0)


TABLE = Base.metadata.tables[Narrow.__tablename__]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def lax_db(mysql_url: str) -> AsyncIterator[Database]:
    """A Database whose connections start with an empty ``sql_mode`` (a lax server's default)."""
    separator = "&" if "?" in mysql_url else "?"
    lax = quote("SET SESSION sql_mode=''")
    url = f"{mysql_url}{separator}init_command={lax}"
    database = Database(RdbmsSettings(url=url, health_check=False))
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: Base.metadata.create_all(sync, tables=[TABLE]))
    yield database
    await database.aclose()


async def _stored(db: Database, tag: str) -> list[tuple[str, int]]:
    async with db.session() as session:
        rows = await session.scalars(select(Narrow).where(Narrow.tag == tag))
        return [(row.name, row.number) for row in rows]


async def test_connections_run_in_strict_mode(lax_db: Database) -> None:
    """Every pooled connection has STRICT_ALL_TABLES in its sql_mode, even when the server has none."""
    async with lax_db.session() as session:
        mode: str = (await session.execute(text("SELECT @@SESSION.sql_mode"))).scalar_one()
    assert "STRICT_ALL_TABLES" in mode.split(",")


async def test_over_length_string_is_refused_not_truncated(lax_db: Database, unique_name: str) -> None:
    """A string longer than VARCHAR(n) is a QueryError naming the column; nothing is stored truncated."""
    with pytest.raises(QueryError, match="'name'"):
        async with lax_db.transaction() as session:
            await Repository(session, Narrow).add(Narrow(tag=unique_name, name="toolong"))
    assert await _stored(lax_db, unique_name) == []


async def test_out_of_range_integer_is_refused_not_clamped(lax_db: Database, unique_name: str) -> None:
    """An integer beyond a 32-bit column is a QueryError naming the column; nothing is stored clamped."""
    with pytest.raises(QueryError, match="'number'"):
        async with lax_db.transaction() as session:
            await Repository(session, Narrow).add(Narrow(tag=unique_name, name="ok", number=2**31 + 5))
    assert await _stored(lax_db, unique_name) == []


async def test_session_usable_after_a_refused_write(lax_db: Database, unique_name: str) -> None:
    """After a refused write the next transaction on the same Database stores an ordinary row."""
    with pytest.raises(QueryError):
        async with lax_db.transaction() as session:
            await Repository(session, Narrow).add(Narrow(tag=unique_name, name="toolong"))
    async with lax_db.transaction() as session:
        await Repository(session, Narrow).add(Narrow(tag=unique_name, name="fits", number=7))
    assert await _stored(lax_db, unique_name) == [("fits", 7)]
