"""internal_rdbms against real PostgreSQL and MariaDB/MySQL servers (one fresh database each per process)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
import pytest_asyncio
from sqlalchemy import String, func, select, text
from sqlalchemy.orm import Mapped, mapped_column

from internal_base.health import HealthRegistry, HealthStatus
from internal_rdbms import (
    Base,
    Database,
    IntPrimaryKeyMixin,
    RdbmsConflictError,
    RdbmsSettings,
    RdbmsUnavailableError,
    Repository,
    SoftDeleteMixin,
    TimestampMixin,
    UUIDPrimaryKeyMixin,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Member(IntPrimaryKeyMixin, TimestampMixin, Base):
    """A member with a unique email; ``tag`` isolates the rows of each test."""

    __tablename__ = "it_members"
    tag: Mapped[str] = mapped_column(String(64), index=True)
    email: Mapped[str] = mapped_column(String(120), unique=True)
    score: Mapped[int] = mapped_column(default=0)
    label: Mapped[str | None] = mapped_column(String(20), nullable=True)


class Doc(UUIDPrimaryKeyMixin, SoftDeleteMixin, Base):
    """A soft-deletable document with a UUID key."""

    __tablename__ = "it_docs"
    tag: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(100))


TABLES = [Base.metadata.tables[model.__tablename__] for model in (Member, Doc)]


@pytest.fixture(scope="session", params=["postgresql", "mysql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """The URL of this process's fresh database on each server (``postgres_url`` / ``mysql_url``)."""
    fixture = "postgres_url" if request.param == "postgresql" else "mysql_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def db(database_url: str) -> AsyncIterator[Database]:
    """A Database per server with the test tables created (dropped with the database at the end)."""
    # Generous pool and health timeouts: 20 concurrent units of work on a busy machine must queue, not fail.
    settings = RdbmsSettings(
        url=database_url, pool_size=5, max_overflow=5, pool_timeout=30, health_check_timeout=30
    )
    database = Database(settings, health_registry=HealthRegistry(cache_ttl=0))
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: Base.metadata.create_all(sync, tables=TABLES))
    yield database
    await database.aclose()


def _members(tag: str, count: int, **values: object) -> list[Member]:
    return [Member(tag=tag, email=f"{tag}-{i}@example.com", **values) for i in range(count)]


async def test_health_check_is_healthy(db: Database, database_url: str) -> None:
    """The registered SELECT 1 check passes and names the backend."""
    registry = HealthRegistry(cache_ttl=0)
    settings = RdbmsSettings(url=database_url, health_check_timeout=30)  # busy machine: seconds, not ms
    async with Database(settings, health_registry=registry) as other:
        report = await registry.readiness()
        assert report.status == HealthStatus.HEALTHY
        assert report.check("rdbms").details["backend"] == other.backend == db.backend
    assert db.engine.url.drivername in ("postgresql+asyncpg", "mysql+aiomysql")


async def test_transaction_commits_or_rolls_back(db: Database, unique_name: str) -> None:
    """A failing unit of work leaves nothing behind; a successful one is visible to new sessions."""

    async def failing_work() -> None:
        async with db.transaction() as session:
            await Repository(session, Member).add_many(_members(unique_name, 3))
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError, match="abort"):
        await failing_work()
    async with db.transaction() as session:
        await Repository(session, Member).add(Member(tag=unique_name, email=f"{unique_name}@example.com"))
    async with db.session() as session:
        assert await Repository(session, Member).count(tag=unique_name) == 1


async def test_unique_constraint_conflict(db: Database, unique_name: str) -> None:
    """A duplicate email is an RdbmsConflictError without parameters in its message; a savepoint survives."""
    email = f"{unique_name}@example.com"
    async with db.transaction() as session:
        repo = Repository(session, Member)
        await repo.add(Member(tag=unique_name, email=email))
        with pytest.raises(RdbmsConflictError, match="integrity constraint violated") as info:
            async with db.transaction(session):
                await repo.add(Member(tag=unique_name, email=email))
        assert email not in str(info.value)
        assert info.value.constraint == "uq_it_members_email"
        await repo.add(Member(tag=unique_name, email=f"second-{email}"))
    async with db.session() as session:
        assert await Repository(session, Member).count(tag=unique_name) == 2


async def test_keyset_pagination_across_pages(db: Database, unique_name: str) -> None:
    """Keyset pages over duplicate scores and NULL labels return every row once, in the total order."""
    async with db.transaction() as session:
        labels = [None, "a", "b"]
        rows = [
            Member(tag=unique_name, email=f"{unique_name}-{i}@x.io", score=i % 3, label=labels[i % 4 % 3])
            for i in range(40)
        ]
        await Repository(session, Member).add_many(rows)
        # Score ascending; within a score, label descending with NULLs last; ties by id ascending.
        expected_ids: list[int] = []
        for score in range(3):
            group = [m for m in rows if m.score == score]
            with_label = sorted(
                (m for m in group if m.label is not None), key=lambda m: (m.label or "", -m.id), reverse=True
            )
            expected_ids += [m.id for m in with_label] + sorted(m.id for m in group if m.label is None)
    async with db.session() as session:
        repo = Repository(session, Member)
        seen: list[int] = []
        cursor: str | None = None
        pages = 0
        while True:
            page = await repo.keyset(tag=unique_name, order_by="score,-label", limit=6, cursor=cursor)
            seen.extend(m.id for m in page.items)
            pages += 1
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert (seen, pages) == (expected_ids, 7)
        offset_page = await repo.page(tag=unique_name, order_by="score,-label", limit=6, offset=36)
        assert [m.id for m in offset_page.items] == expected_ids[36:]
        assert (offset_page.total, offset_page.has_next) == (40, False)


async def test_keyset_by_timestamp_and_uuid(db: Database, unique_name: str) -> None:
    """Cursors built from microsecond timestamps and UUIDs seek correctly on the server types."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    async with db.transaction() as session:
        members = _members(unique_name, 9)
        for i, member in enumerate(members):
            member.created_at = start + timedelta(microseconds=i // 2)  # pairs share a timestamp
        await Repository(session, Member).add_many(members)
        docs = await Repository(session, Doc).add_many(Doc(tag=unique_name, title=str(i)) for i in range(7))
    async with db.session() as session:
        walked: list[int] = []
        cursor: str | None = None
        while True:
            page = await Repository(session, Member).keyset(
                tag=unique_name, order_by="-created_at", limit=2, cursor=cursor
            )
            walked.extend(m.id for m in page.items)
            if (cursor := page.next_cursor) is None:
                break
        by_time = sorted(members, key=lambda m: (-(m.created_at - start).microseconds, m.id))
        assert walked == [m.id for m in by_time]
        titles: list[str] = []
        cursor = None
        while True:
            doc_page = await Repository(session, Doc).keyset(
                tag=unique_name, order_by="id", limit=3, cursor=cursor
            )
            titles.extend(d.title for d in doc_page.items)
            if (cursor := doc_page.next_cursor) is None:
                break
        assert sorted(titles) == sorted(d.title for d in docs)
        assert len(titles) == 7


async def test_timestamps_round_trip_as_aware_utc(db: Database, unique_name: str) -> None:
    """Timestamps keep microseconds and come back as aware UTC on every backend."""
    moment = datetime(2024, 6, 1, 8, 30, 15, 654321, tzinfo=timezone(timedelta(hours=-5)))
    async with db.transaction() as session:
        member = await Repository(session, Member).add(
            Member(tag=unique_name, email=f"{unique_name}@t.io", created_at=moment)
        )
        member_id = member.id
    async with db.session() as session:
        stored = (await session.execute(select(Member.created_at).where(Member.id == member_id))).scalar_one()
    assert stored == datetime(2024, 6, 1, 13, 30, 15, 654321, tzinfo=UTC)
    assert stored.tzinfo is UTC


async def test_soft_delete_on_server(db: Database, unique_name: str) -> None:
    """Soft deletion hides rows on the server too and can be undone."""
    async with db.transaction() as session:
        docs = Repository(session, Doc)
        doc = await docs.add(Doc(tag=unique_name, title="t"))
        await docs.delete(doc.id)
    async with db.transaction() as session:
        docs = Repository(session, Doc)
        assert await docs.count(tag=unique_name) == 0
        assert await docs.count(tag=unique_name, include_deleted=True) == 1
        await docs.restore(doc.id)
    async with db.session() as session:
        assert (await Repository(session, Doc).get(doc.id)).title == "t"


async def test_concurrent_sessions(db: Database, unique_name: str) -> None:
    """Concurrent units of work on separate sessions all commit; racing duplicates yield one winner."""

    async def insert(i: int) -> None:
        async with db.transaction() as session:
            await Repository(session, Member).add(Member(tag=unique_name, email=f"{unique_name}-{i}@c.io"))

    await asyncio.gather(*(insert(i) for i in range(20)))

    async def duplicate() -> str:
        try:
            await insert(999)
        except RdbmsConflictError:
            return "conflict"
        return "ok"

    outcomes = await asyncio.gather(*(duplicate() for _ in range(5)))
    assert sorted(outcomes) == ["conflict"] * 4 + ["ok"]
    async with db.session() as session:
        assert await Repository(session, Member).count(tag=unique_name) == 21
        assert db.engine.pool.checkedout() == 1  # type: ignore[attr-defined]


async def test_pool_exhaustion_is_unavailable(database_url: str) -> None:
    """With every pooled connection busy, a checkout fails as RdbmsUnavailableError with retry_after."""
    settings = RdbmsSettings(
        url=database_url, pool_size=1, max_overflow=0, pool_timeout=0.2, health_check=False
    )
    async with Database(settings) as small:
        async with small.session() as holder:
            await holder.execute(text("SELECT 1"))
            assert small.engine.pool.checkedout() == 1  # type: ignore[attr-defined]
            with pytest.raises(RdbmsUnavailableError, match="connection pool exhausted") as info:
                async with small.session() as waiting:
                    await waiting.execute(text("SELECT 1"))
            assert info.value.retry_after == 1.0
            await small.ping()  # the readiness probe has its own connection, outside the pool
        assert small.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def _wait_until_gone(db: Database, backend_id: int) -> None:
    """Poll (generous deadline) until the server no longer lists the killed connection."""
    if db.backend == "postgresql":
        query = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :id")
    else:
        query = text("SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = :id")
    deadline = time.monotonic() + 30
    async with db.engine.connect() as admin:
        while True:
            listed: int = (await admin.execute(query, {"id": backend_id})).scalar_one()
            # A new transaction per poll: PostgreSQL keeps one pg_stat_activity snapshot per
            # transaction, so a first poll that still saw the dying backend would see it forever.
            await admin.rollback()
            if not listed:
                return
            assert time.monotonic() < deadline, "the killed connection is still listed after 30 s"
            await asyncio.sleep(0.05)


async def test_pre_ping_replaces_a_killed_connection(db: Database, database_url: str) -> None:
    """A pooled connection killed by the server is detected by pre-ping and replaced transparently."""
    backend_id = "SELECT pg_backend_pid()" if db.backend == "postgresql" else "SELECT CONNECTION_ID()"
    settings = RdbmsSettings(url=database_url, pool_size=1, max_overflow=0, health_check=False)
    async with Database(settings) as small:
        async with small.engine.connect() as connection:
            first: int = (await connection.execute(text(backend_id))).scalar_one()
        async with db.engine.connect() as admin:
            if db.backend == "postgresql":
                await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            else:
                await admin.execute(text(f"KILL {int(first)}"))
        await _wait_until_gone(db, first)
        async with small.engine.connect() as connection:
            second: int = (await connection.execute(text(backend_id))).scalar_one()
        assert second != first


async def test_count_matches_raw_sql(db: Database, unique_name: str) -> None:
    """Repository counts agree with a raw COUNT(*) on the same engine."""
    async with db.transaction() as session:
        await Repository(session, Member).add_many(_members(unique_name, 5, score=7))
    async with db.session() as session:
        raw = (await session.execute(select(func.count()).where(Member.tag == unique_name))).scalar_one()
        assert await Repository(session, Member).count(tag=unique_name, score=7) == raw == 5


async def test_refused_connection_is_unavailable_and_redacted() -> None:
    """A server that refuses connections raises RdbmsUnavailableError without the password."""
    async with Database(
        RdbmsSettings(url="postgresql://app:hunter2@127.0.0.1:1/app", health_check=False)
    ) as dead:
        with pytest.raises(RdbmsUnavailableError, match="database unavailable") as info:
            await dead.ping()
    assert "hunter2" not in str(info.value)
