"""Read replicas against a real PostgreSQL streaming replica (``postgres_replica``), MariaDB and SQLite.

Replication is awaited by LSN (the replica has replayed the primary's current WAL position), never
by sleeping. Tests that stop the replica or pause its replay restore it before they end, and wait
until it has caught up again, so other tests sharing the session fixture find it as it was.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import Column, Integer, MetaData, String, Table, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.orm import Mapped, mapped_column

from internal_base.health import HealthRegistry, HealthStatus
from internal_rdbms import Base, Database, IntPrimaryKeyMixin, RdbmsSettings, Repository
from internal_rdbms.session import RdbmsReadOnlyError
from internal_testing._topologies import PostgresReplica

pytestmark = pytest.mark.asyncio(loop_scope="session")

_DEADLINE = 60.0


class ReplicaItem(IntPrimaryKeyMixin, Base):
    """A row written on the primary and read back through the replica; ``tag`` isolates each test."""

    __tablename__ = "it_replica_items"
    tag: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(64))


TABLES = [Base.metadata.tables[ReplicaItem.__tablename__]]


async def _scalar(connection: AsyncConnection, sql: str) -> object:
    return (await connection.execute(text(sql))).scalar()


async def wait_replayed(primary_url: str, replica_url: str) -> None:
    """Wait (polling, 60 s deadline) until the replica has replayed the primary's current WAL position."""
    primary = create_async_engine(primary_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    replica = create_async_engine(replica_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with primary.connect() as connection:
            # The insert position: with synchronous_commit=off the write position may lag a commit.
            target = await _scalar(connection, "SELECT pg_current_wal_insert_lsn()::text")
        deadline = time.monotonic() + _DEADLINE
        async with replica.connect() as connection:
            while True:
                done = (
                    await connection.execute(
                        text("SELECT pg_last_wal_replay_lsn() >= CAST(CAST(:lsn AS text) AS pg_lsn)"),
                        {"lsn": target},
                    )
                ).scalar()
                await connection.rollback()
                if done:
                    return
                assert time.monotonic() < deadline, f"the replica did not replay {target} within 60 s"
                await asyncio.sleep(0.02)
    finally:
        await primary.dispose()
        await replica.dispose()


async def wait_for_state(db: Database, state: str) -> dict[str, object]:
    """Probe the replica until it reports ``state`` (60 s deadline)."""
    deadline = time.monotonic() + _DEADLINE
    while True:
        (status,) = await db.replica_status()
        if status["state"] == state:
            return status
        assert time.monotonic() < deadline, f"the replica stayed {status} instead of {state}"
        await asyncio.sleep(0.05)


@pytest.fixture(scope="session")
def pair(postgres_replica: PostgresReplica) -> PostgresReplica:
    """The session's primary and streaming replica."""
    return postgres_replica


@pytest_asyncio.fixture(loop_scope="session")
async def db(pair: PostgresReplica) -> AsyncIterator[Database]:
    """A Database on the primary with the replica; the test table exists on both."""
    settings = RdbmsSettings(
        url=pair.primary_url,
        replica_max_lag=0.5,
        replica_check_interval=0.05,
        health_check_timeout=10,
        pool_timeout=30,
    )
    database = Database(
        settings, replica_urls=[pair.replica_url], health_registry=HealthRegistry(cache_ttl=0)
    )
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: Base.metadata.create_all(sync, tables=TABLES))
    await wait_replayed(pair.primary_url, pair.replica_url)
    await wait_for_state(database, "ok")
    yield database
    await database.aclose()


async def _server(session_or_connection: object) -> tuple[bool, int]:
    """(in recovery, port) of the server the session runs on."""
    row = (
        await session_or_connection.execute(  # type: ignore[attr-defined]
            text("SELECT pg_is_in_recovery(), inet_server_port()")
        )
    ).one()
    return bool(row[0]), int(row[1])


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


async def test_read_only_unit_of_work_reads_replicated_rows_on_the_replica(
    db: Database, pair: PostgresReplica, unique_name: str
) -> None:
    """A row committed on the primary is read, once replayed, by a read-only unit of work on the replica."""
    async with db.transaction() as session:
        assert await _server(session) == (False, _port(pair.primary_url))
        session.add(ReplicaItem(tag=unique_name, name="written on the primary"))
    await wait_replayed(pair.primary_url, pair.replica_url)
    async with db.transaction(read_only=True) as session:
        assert await _server(session) == (True, _port(pair.replica_url))
        rows = await Repository(session, ReplicaItem).list(tag=unique_name)
        assert [row.name for row in rows] == ["written on the primary"]
    names = await db.run(lambda s: Repository(s, ReplicaItem).list(tag=unique_name), read_only=True)
    assert [row.name for row in names] == ["written on the primary"]


async def test_plain_sessions_stay_on_the_primary(db: Database, pair: PostgresReplica) -> None:
    """Without read_only, sessions (reads included) go to the primary: read-your-writes holds."""
    async with db.session() as session:
        assert await _server(session) == (False, _port(pair.primary_url))
    assert await db.run(_server) == (False, _port(pair.primary_url))


async def test_write_in_read_only_unit_of_work_is_refused(db: Database, unique_name: str) -> None:
    """An INSERT in read-only work raises RdbmsReadOnlyError naming the cause; nothing is written."""
    with pytest.raises(RdbmsReadOnlyError, match="read-only unit of work") as info:
        async with db.transaction(read_only=True) as session:
            await Repository(session, ReplicaItem).add(ReplicaItem(tag=unique_name, name="refused"))
    assert "read-only transaction" in str(info.value)
    async with db.session() as session:
        assert await Repository(session, ReplicaItem).count(tag=unique_name) == 0


async def test_stopped_replica_reads_fall_back_to_the_primary(db: Database, pair: PostgresReplica) -> None:
    """With the replica stopped, read-only work runs on the primary and health marks the replica down."""
    if not pair.managed:
        pytest.skip("the replica given by COMMONS_POSTGRES_REPLICA_URL cannot be stopped here")
    registry = HealthRegistry(cache_ttl=0)
    watched = Database(
        db.settings.model_copy(update={"health_check_name": "replicated"}), health_registry=registry
    )
    try:
        async with watched.transaction(read_only=True) as session:  # warm a pooled replica connection
            assert (await _server(session))[0] is True
        pair.stop_replica()
        async with watched.transaction(read_only=True) as session:
            assert await _server(session) == (False, _port(pair.primary_url))
        with pytest.raises(RdbmsReadOnlyError):  # on the primary too, the unit of work stays read-only
            async with watched.transaction(read_only=True) as session:
                await session.execute(text("CREATE TEMPORARY TABLE refused (id int)"))
        report = await registry.readiness()
        assert report.status == HealthStatus.DEGRADED
        assert report.http_status == 200
        assert report.check("replicated").status == HealthStatus.HEALTHY
        replica = report.check("replicated-replica-0")
        assert (replica.status, replica.critical) == (HealthStatus.UNHEALTHY, False)
        assert "is down" in (replica.error or "")
        assert report.check("replicated").details["replicas"][0]["state"] == "down"
    finally:
        await watched.aclose()
        pair.start_replica()
        await wait_replayed(pair.primary_url, pair.replica_url)
    status = await wait_for_state(db, "ok")
    assert status["lag_seconds"] == 0
    async with db.transaction(read_only=True) as session:  # back on the replica once it is up
        assert (await _server(session))[0] is True


async def test_lagging_replica_reads_fall_back_to_the_primary(
    db: Database, pair: PostgresReplica, unique_name: str
) -> None:
    """A replica whose replay is paused falls behind replica_max_lag: reads go to the primary."""
    replica = create_async_engine(pair.replica_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with replica.connect() as connection:
            await connection.execute(text("SELECT pg_wal_replay_pause()"))
            await connection.commit()
        try:
            async with db.transaction() as session:
                session.add(ReplicaItem(tag=unique_name, name="not replayed"))
            status = await wait_for_state(db, "lagging")
            assert isinstance(status["lag_seconds"], float)
            assert status["lag_seconds"] > 0.5
            async with db.transaction(read_only=True) as session:
                assert (await _server(session))[0] is False
                assert await Repository(session, ReplicaItem).count(tag=unique_name) == 1
        finally:
            async with replica.connect() as connection:
                await connection.execute(text("SELECT pg_wal_replay_resume()"))
                await connection.commit()
    finally:
        await replica.dispose()
    await wait_replayed(pair.primary_url, pair.replica_url)
    await wait_for_state(db, "ok")
    async with db.transaction(read_only=True) as session:
        assert (await _server(session))[0] is True
        assert await Repository(session, ReplicaItem).count(tag=unique_name) == 1


async def test_health_shows_each_replica(db: Database, pair: PostgresReplica) -> None:
    """Readiness lists the replica (URL, state, lag) and registers a non-critical check for it."""
    registry = HealthRegistry(cache_ttl=0)
    async with Database(
        db.settings.model_copy(update={"health_check_name": "shown"}), health_registry=registry
    ) as shown:
        report = await registry.readiness()
        # The primary's check lists the replicas as last probed (the replica's check probes them).
        assert (await shown.health_check())["replicas"] == [report.check("shown-replica-0").details]
    assert report.status == HealthStatus.HEALTHY
    details = report.check("shown-replica-0").details
    assert details["state"] == "ok"
    assert details["lag_seconds"] == 0
    assert str(details["url"]).endswith(f":{_port(pair.replica_url)}/postgres")
    assert "replicas=1" in repr(shown)


async def test_a_replica_that_cannot_be_reached_at_all_is_skipped(pair: PostgresReplica) -> None:
    """A replica URL nobody listens on: reads go to the primary, the replica is reported down."""
    settings = RdbmsSettings(url=pair.primary_url, health_check=False, connect_timeout=5)
    closed = pair.primary_url.rsplit(":", 1)[0] + ":9/postgres"
    async with Database(settings, replica_urls=[closed]) as database:
        async with database.transaction(read_only=True) as session:
            assert (await _server(session))[0] is False
        (status,) = await database.replica_status()
        assert status["state"] == "down"
        assert "unavailable" in str(status["error"])


@pytest.fixture(params=["mysql", "sqlite"])
def other_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A MariaDB database, or an SQLite file."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/replicated.db"
    url: str = request.getfixturevalue("mysql_url")
    return url


_OTHER = MetaData()
_RO_ITEMS = Table(
    "it_read_only_items",
    _OTHER,
    Column("id", Integer, primary_key=True),
    Column("tag", String(64)),
    Column("name", String(64)),
)


async def test_read_only_on_mariadb_and_sqlite(other_url: str, unique_name: str) -> None:
    """MariaDB and SQLite refuse writes in read-only work, and the connection is writable again after.

    A replica URL that is no replica (MariaDB: no replication status; SQLite: another file) counts
    as in sync, so read-only work runs there.
    """
    settings = RdbmsSettings(url=other_url, pool_size=1, health_check=False)
    async with Database(settings, replica_urls=[other_url]) as database:
        await database.create_all(_OTHER)
        with pytest.raises(RdbmsReadOnlyError, match="read-only unit of work"):
            async with database.transaction(read_only=True) as session:
                await session.execute(_RO_ITEMS.insert().values(tag=unique_name, name="refused"))
        (status,) = await database.replica_status()
        assert (status["state"], status["lag_seconds"]) == ("ok", 0)
        # The one pooled replica connection is writable again for ordinary work on it.
        async with database.replica_engines[0].begin() as connection:
            await connection.execute(_RO_ITEMS.insert().values(tag=unique_name, name="written"))
        async with database.transaction(read_only=True) as session:
            query = select(_RO_ITEMS.c.name).where(_RO_ITEMS.c.tag == unique_name)
            names: list[str] = list((await session.scalars(query)).all())
        assert names == ["written"]


async def test_lag_is_read_by_a_role_without_monitoring_privileges(
    db: Database, pair: PostgresReplica
) -> None:
    """An ordinary login role (no pg_read_all_stats) sees an idle, caught-up standby as in sync."""
    async with db.engine.begin() as connection:
        exists = await _scalar(connection, "SELECT count(*) FROM pg_roles WHERE rolname = 'replica_reader'")
        if not exists:
            await connection.execute(text("CREATE ROLE replica_reader LOGIN"))
    await wait_replayed(pair.primary_url, pair.replica_url)
    reader = pair.replica_url.replace("postgres@", "replica_reader@", 1)
    settings = RdbmsSettings(url=pair.primary_url, health_check=False)
    async with Database(settings, replica_urls=[reader]) as database:
        (status,) = await database.replica_status()
        assert (status["state"], status["lag_seconds"]) == ("ok", 0)
        async with database.transaction(read_only=True) as session:
            assert await _server(session) == (True, _port(pair.replica_url))
            assert (await session.execute(text("SELECT current_user"))).scalar() == "replica_reader"
