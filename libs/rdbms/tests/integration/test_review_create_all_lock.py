"""Adversarial review: ``create_all`` under the cross-process lock, when the lock is held by someone else.

The waiter must keep its event loop free (health checks, requests), give up cleanly when cancelled
(no lock left behind for the next process) and get the lock once a holder crashed (``kill -9``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, inspect
from sqlalchemy.ext.asyncio import AsyncConnection

from internal_rdbms import Database, RdbmsSettings
from internal_rdbms._migrations import lock_engine, migration_lock
from internal_rdbms.migrations import RdbmsMigrationError

pytestmark = pytest.mark.asyncio(loop_scope="session")

_LOCK = "internal_rdbms.create_all"


@pytest.fixture(params=["postgresql", "mysql", "sqlite"])
def lock_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """This process's PostgreSQL or MariaDB database, or an SQLite file."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/locked.db"
    url: str = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")
    return url


def _metadata(name: str) -> MetaData:
    metadata = MetaData()
    Table(f"lk_{name.replace('-', '_')}"[:40], metadata, Column("id", Integer, primary_key=True))
    return metadata


@contextlib.asynccontextmanager
async def _held(settings: RdbmsSettings) -> AsyncIterator[AsyncConnection]:
    """Hold create_all's lock on a connection of our own (SQLite: an open BEGIN IMMEDIATE)."""
    engine = lock_engine(settings, 5)
    try:
        async with engine.connect() as connection:
            if settings.backend == "sqlite":
                await connection.begin()
                yield connection
                await connection.rollback()
            else:
                assert connection.sync_connection is not None
                lock = migration_lock(connection.sync_connection, _LOCK, 5)
                await connection.run_sync(lambda _sync: lock.__enter__())
                try:
                    yield connection
                finally:
                    await connection.run_sync(lambda _sync: lock.__exit__(None, None, None))
    finally:
        await engine.dispose()


async def _tables(db: Database) -> list[str]:
    async with db.engine.connect() as connection:
        return await connection.run_sync(lambda sync: inspect(sync).get_table_names())


async def test_waiting_for_the_lock_keeps_the_event_loop_free(lock_url: str, unique_name: str) -> None:
    """While create_all waits for a held lock, other coroutines run (the loop is never blocked)."""
    settings = RdbmsSettings(url=lock_url, health_check=False)
    metadata = _metadata(unique_name)
    async with Database(settings) as db, _held(settings):
        waiter = asyncio.create_task(db.create_all(metadata, lock_timeout=60))
        blocked = 0.0
        window_end = time.monotonic() + 2.0
        while time.monotonic() < window_end:
            before = time.monotonic()
            await asyncio.sleep(0.005)
            gap = time.monotonic() - before
            if gap > 0.1:
                blocked += gap
        assert not waiter.done()
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert blocked < 1.0, f"the event loop was blocked {blocked:.2f} s of 2 s while create_all waited"


async def test_cancelled_waiter_leaves_no_lock_behind(lock_url: str, unique_name: str) -> None:
    """A cancelled create_all stops at once; once the holder lets go, the next one gets the lock."""
    settings = RdbmsSettings(url=lock_url, health_check=False)
    metadata = _metadata(unique_name)
    async with Database(settings) as db:
        async with _held(settings):
            waiter = asyncio.create_task(db.create_all(metadata, lock_timeout=300))
            await asyncio.sleep(1.0)  # let it reach the wait (not an assertion on timing)
            waiter.cancel()
            started = time.monotonic()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            # Not the 300 s lock_timeout (SQLite's busy wait in the driver's thread ignored cancelling).
            assert time.monotonic() - started < 30
        await db.create_all(metadata, lock_timeout=20)
        assert next(iter(metadata.tables)) in await _tables(db)
        await db.drop_all(metadata)


_HOLDER = """
import asyncio, sys, time
from internal_rdbms import RdbmsSettings
from internal_rdbms._migrations import lock_engine, migration_lock
from internal_rdbms.migrations import RdbmsMigrationError

async def main(url, ready):
    settings = RdbmsSettings(url=url, health_check=False)
    engine = lock_engine(settings, 5)
    connection = await engine.connect()
    if settings.backend == "sqlite":
        await connection.begin()
    else:
        lock = migration_lock(connection.sync_connection, "internal_rdbms.create_all", 5)
        await connection.run_sync(lambda _sync: lock.__enter__())
    open(ready, "w").close()
    await asyncio.sleep(600)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_a_crashed_holder_does_not_keep_the_lock(
    lock_url: str, unique_name: str, tmp_path: Path
) -> None:
    """A process killed (SIGKILL) while holding the lock: create_all gets it and creates the tables."""
    ready = tmp_path / "ready"
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _HOLDER, lock_url, str(ready), env=dict(os.environ)
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert holder.returncode is None, "the lock holder exited early"
            assert time.monotonic() < deadline, "the lock holder never took the lock"
            await asyncio.sleep(0.05)
        settings = RdbmsSettings(url=lock_url, health_check=False)
        metadata = _metadata(unique_name)
        async with Database(settings) as db:
            waiter = asyncio.create_task(db.create_all(metadata, lock_timeout=60))
            await asyncio.sleep(0.5)
            assert not waiter.done()  # it waits for the holder
            holder.send_signal(signal.SIGKILL)
            await asyncio.wait_for(holder.wait(), timeout=30)
            await asyncio.wait_for(waiter, timeout=45)
            assert next(iter(metadata.tables)) in await _tables(db)
            await db.drop_all(metadata)
    finally:
        if holder.returncode is None:
            holder.kill()
            await asyncio.wait_for(holder.wait(), timeout=30)


async def test_lock_timeout_is_a_clear_error_on_every_backend(lock_url: str, unique_name: str) -> None:
    """The lock held longer than lock_timeout: RdbmsMigrationError saying so (SQLite too), nothing created."""
    settings = RdbmsSettings(url=lock_url, health_check=False)
    metadata = _metadata(unique_name)
    async with Database(settings) as db:
        async with _held(settings):
            with pytest.raises(RdbmsMigrationError, match="held the migration lock for 1 s"):
                await db.create_all(metadata, lock_timeout=1)
        assert next(iter(metadata.tables)) not in await _tables(db)
