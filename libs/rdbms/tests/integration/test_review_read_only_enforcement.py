"""Adversarial review: read-only units of work refuse every write (DML and DDL) on every backend.

MySQL/MariaDB commit implicitly before DDL: a ``SET TRANSACTION READ ONLY`` that covers one
transaction let ``CREATE``/``DROP``/``TRUNCATE`` through, and every write after them. The
connection must be writable again for the next user of the pool, after an error too.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from sqlalchemy import text

from internal_rdbms import Database, RdbmsSettings
from internal_rdbms.session import RdbmsReadOnlyError

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(params=["postgresql", "mysql", "sqlite"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """This process's PostgreSQL or MariaDB database, or an SQLite file."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/read_only.db"
    url: str = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")
    return url


def _writes(table: str, backend: str) -> list[str]:
    truncate = f"DELETE FROM {table}" if backend == "sqlite" else f"TRUNCATE TABLE {table}"
    return [
        f"INSERT INTO {table} (id) VALUES (2)",
        f"UPDATE {table} SET id = 3",
        f"DELETE FROM {table}",
        f"CREATE TABLE {table}_new (id INTEGER)",
        f"ALTER TABLE {table} ADD COLUMN extra INTEGER",
        truncate,
        f"DROP TABLE {table}",
    ]


async def _write_after_refused(db: Database, refused: str, write: str) -> None:
    async with db.transaction(read_only=True) as session:
        with contextlib.suppress(RdbmsReadOnlyError):
            await session.execute(text(refused))
        await session.execute(text(write))


async def _fail_after_reading(db: Database, table: str) -> None:
    async with db.transaction(read_only=True) as session:
        await session.execute(text(f"SELECT count(*) FROM {table}"))
        raise ZeroDivisionError


async def test_every_write_is_refused_and_the_table_is_intact(any_url: str, unique_name: str) -> None:
    """DML and DDL in read-only work raise RdbmsReadOnlyError; a write after a refused DDL too."""
    table = f"ro_{unique_name.replace('-', '_')}"[:40]
    settings = RdbmsSettings(url=any_url, pool_size=1, health_check=False)
    async with Database(settings) as db:
        async with db.engine.begin() as connection:
            await connection.execute(text(f"CREATE TABLE {table} (id INTEGER)"))
            await connection.execute(text(f"INSERT INTO {table} (id) VALUES (1)"))
        try:
            for statement in _writes(table, db.backend):
                with pytest.raises(RdbmsReadOnlyError, match="read-only unit of work"):
                    async with db.transaction(read_only=True) as session:
                        await session.execute(text(statement))
                if db.backend == "postgresql":
                    continue  # an error aborts the transaction: nothing else runs in it
                # Whatever an implicit commit did, the next write of the same work is refused too.
                with pytest.raises(RdbmsReadOnlyError):
                    await _write_after_refused(db, statement, f"INSERT INTO {table} (id) VALUES (9)")
            async with db.session() as session:
                rows: list[int] = list((await session.execute(text(f"SELECT id FROM {table}"))).scalars())
                assert rows == [1]
                tables = await session.run_sync(
                    lambda sync: sync.connection().dialect.get_table_names(sync.connection())
                )
                assert f"{table}_new" not in tables
            # The one pooled connection is writable again for ordinary work.
            async with db.transaction() as session:
                await session.execute(text(f"INSERT INTO {table} (id) VALUES (4)"))
            async with db.session() as session:
                ordered: list[int] = list(
                    (await session.execute(text(f"SELECT id FROM {table} ORDER BY id"))).scalars()
                )
                assert ordered == [1, 4]
        finally:
            async with db.engine.begin() as connection:
                await connection.execute(text(f"DROP TABLE IF EXISTS {table}_new"))
                await connection.execute(text(f"DROP TABLE IF EXISTS {table}"))


async def test_writable_again_after_an_error_in_read_only_work(any_url: str, unique_name: str) -> None:
    """A read-only unit of work that fails (not a refusal) leaves its connection writable."""
    table = f"rw_{unique_name.replace('-', '_')}"[:40]
    settings = RdbmsSettings(url=any_url, pool_size=1, health_check=False)
    async with Database(settings) as db:
        async with db.engine.begin() as connection:
            await connection.execute(text(f"CREATE TABLE {table} (id INTEGER)"))
        try:
            with pytest.raises(ZeroDivisionError):
                await _fail_after_reading(db, table)
            with pytest.raises(Exception, match="no_such_table"):
                async with db.session(read_only=True) as session:
                    await session.execute(text("SELECT * FROM no_such_table_ro"))
            async with db.transaction() as session:
                await session.execute(text(f"INSERT INTO {table} (id) VALUES (1)"))
            async with db.session() as session:
                assert (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar() == 1
        finally:
            async with db.engine.begin() as connection:
                await connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
