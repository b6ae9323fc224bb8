"""Replica settings, read-only units of work and replica routing on SQLite files (no server needed).

An SQLite "replica" is another database file: rows written only there show which database a
read-only unit of work ran on.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select, text

from internal_base.errors import ConfigurationError
from internal_base.health import HealthRegistry, HealthStatus
from internal_rdbms import Database, RdbmsReadOnlyError, RdbmsSettings

SECRET = "replica-pw-71c9"  # a test password that must never show

_METADATA = MetaData()
_NOTES = Table("notes", _METADATA, Column("id", Integer, primary_key=True), Column("body", String(40)))


def test_replica_urls_from_a_list_a_comma_separated_string_and_json_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Replica URLs get their async driver; env takes JSON or comma-separated URLs; passwords stay masked."""
    settings = RdbmsSettings(
        url="postgresql://app@db/app", replica_urls=f"postgresql://app:{SECRET}@r1/app, postgres://app@r2/app"
    )
    assert [url.get_secret_value() for url in settings.replica_urls] == [
        f"postgresql+asyncpg://app:{SECRET}@r1/app",
        "postgresql+asyncpg://app@r2/app",
    ]
    assert settings.redacted_replica_urls == [
        "postgresql+asyncpg://app:***@r1/app",
        "postgresql+asyncpg://app@r2/app",
    ]
    assert SECRET not in repr(settings)
    monkeypatch.setenv("COMMONS_RDBMS_URL", "mysql://root@db/app")
    monkeypatch.setenv("COMMONS_RDBMS_REPLICA_URLS", '["mariadb://root@r1/app"]')
    monkeypatch.setenv("COMMONS_RDBMS_REPLICA_MAX_LAG", "2.5")
    loaded = RdbmsSettings.load()
    assert [url.get_secret_value() for url in loaded.replica_urls] == ["mysql+aiomysql://root@r1/app"]
    assert loaded.replica_max_lag == 2.5
    monkeypatch.setenv("COMMONS_RDBMS_REPLICA_URLS", "mysql://root@r1/app,mysql://root@r2/app")
    assert len(RdbmsSettings.load().replica_urls) == 2


def test_a_replica_of_another_backend_is_rejected_naming_it_without_its_password() -> None:
    """A MySQL replica of a PostgreSQL primary, or an in-memory SQLite replica, is a clear error."""
    with pytest.raises(
        ConfigurationError, match=r"replica_urls\[0\].*mysql URL but url is postgresql"
    ) as info:
        RdbmsSettings.load(url="postgresql://app@db/app", replica_urls=[f"mysql://app:{SECRET}@r1/app"])
    assert SECRET not in str(info.value)
    with pytest.raises(ConfigurationError, match="in-memory SQLite"):
        RdbmsSettings.load(url="sqlite:////tmp/a.db", replica_urls=["sqlite://"])
    with pytest.raises(ConfigurationError, match="replica_max_lag"):
        RdbmsSettings.load(replica_max_lag=0)
    with pytest.raises(ValueError, match=r"replica_urls\[0\].*mysql URL"):
        Database(RdbmsSettings(url="postgresql://app@db/app"), replica_urls=["mysql://app@r1/app"])
    with pytest.raises(TypeError, match="sequence of URLs"):
        Database(RdbmsSettings(url="postgresql://app@db/app"), replica_urls="postgresql://app@r1/app")


def test_pool_defaults_keep_churn_away_and_overflow_warns(caplog: pytest.LogCaptureFixture) -> None:
    """pool_size 10 without overflow by default (no warning); any overflow logs the churn warning."""
    defaults = RdbmsSettings(url="postgresql://app@db/app", health_check=False)
    assert (defaults.pool_size, defaults.max_overflow, defaults.pool_timeout) == (10, 0, 5.0)
    with caplog.at_level(logging.WARNING, logger="internal_rdbms"):
        Database(defaults)
        assert not caplog.records
        Database(defaults.model_copy(update={"pool_size": 5, "max_overflow": 10}))
    (record,) = caplog.records
    assert "max_overflow=10" in record.getMessage()
    assert "pool_size=15 with max_overflow=0" in record.getMessage()


@pytest.fixture()
def primary_url(tmp_path: Path) -> str:
    """An SQLite file as the primary."""
    return f"sqlite:///{tmp_path}/primary.db"


async def _bodies(db: Database, *, read_only: bool) -> list[str]:
    async with db.transaction(read_only=read_only) as session:
        return list((await session.scalars(select(_NOTES.c.body).order_by(_NOTES.c.id))).all())


async def test_read_only_work_refuses_writes_and_leaves_the_connection_writable(primary_url: str) -> None:
    """A write in read-only work is RdbmsReadOnlyError; the same pooled connection then writes again."""
    async with Database(RdbmsSettings(url=primary_url, pool_size=1, health_check=False)) as db:
        await db.create_all(_METADATA)
        await db.create_all(_METADATA)  # idempotent
        with pytest.raises(RdbmsReadOnlyError, match="read-only unit of work") as info:
            async with db.transaction(read_only=True) as session:
                await session.execute(_NOTES.insert().values(body="refused"))
        assert "readonly database" in str(info.value)
        async with db.transaction() as session:
            await session.execute(_NOTES.insert().values(body="written"))
        assert await _bodies(db, read_only=True) == ["written"]
        assert await db.run(lambda s: _count(s), read_only=True) == 1
        async with db.session() as session:
            with pytest.raises(ValueError, match="read_only applies to a new session"):
                async with db.transaction(session, read_only=True):
                    pass


async def _count(session: object) -> int:
    result = await session.execute(text("SELECT count(*) FROM notes"))  # type: ignore[attr-defined]
    return int(result.scalar_one())


async def test_in_memory_sqlite_read_only_then_writable() -> None:
    """The one shared in-memory connection is query_only only for the read-only work."""
    async with Database(RdbmsSettings(url="sqlite://", health_check=False)) as db:
        await db.create_all(_METADATA)
        with pytest.raises(RdbmsReadOnlyError):
            async with db.session(read_only=True) as session:
                await session.execute(_NOTES.insert().values(body="refused"))
        async with db.transaction() as session:
            await session.execute(_NOTES.insert().values(body="kept"))
        assert await _bodies(db, read_only=False) == ["kept"]


async def test_read_only_work_goes_to_the_replica_and_falls_back_when_it_is_down(
    primary_url: str, tmp_path: Path
) -> None:
    """Read-only work reads the replica file; a replica that cannot be opened is skipped for the primary."""
    replica_url = f"sqlite:///{tmp_path}/replica.db"
    for url, body in ((primary_url, "on the primary"), (replica_url, "on the replica")):
        async with Database(RdbmsSettings(url=url, health_check=False)) as setup:
            await setup.create_all(_METADATA)
            async with setup.transaction() as session:
                await session.execute(_NOTES.insert().values(body=body))
    registry = HealthRegistry(cache_ttl=0)
    settings = RdbmsSettings(url=primary_url, replica_check_interval=3600)
    async with Database(settings, replica_urls=[replica_url], health_registry=registry) as db:
        assert await _bodies(db, read_only=True) == ["on the replica"]
        assert await _bodies(db, read_only=False) == ["on the primary"]
        report = await registry.readiness()
        assert report.status == HealthStatus.HEALTHY
        assert report.check("rdbms-replica-0").details["state"] == "ok"
    missing = f"sqlite:///{tmp_path}/no/such/dir/replica.db"
    async with Database(settings, replica_urls=[missing], health_registry=registry) as db:
        assert await _bodies(db, read_only=True) == ["on the primary"]
        (status,) = await db.replica_status()
        assert status["state"] == "down"
        assert "unable to open database file" in str(status["error"])
        report = await registry.readiness()
        assert report.status == HealthStatus.DEGRADED
        assert "is down" in (report.check("rdbms-replica-0").error or "")
        assert report.check("rdbms").details["replicas"] == [status]
    assert registry.names == []


async def test_a_busy_replica_sends_the_work_to_the_primary_without_marking_it_down(
    primary_url: str, tmp_path: Path
) -> None:
    """Every replica connection busy (pool timeout): that work reads the primary; the replica stays ok."""
    replica_url = f"sqlite:///{tmp_path}/busy-replica.db"
    for url, body in ((primary_url, "on the primary"), (replica_url, "on the replica")):
        async with Database(RdbmsSettings(url=url, health_check=False)) as setup:
            await setup.create_all(_METADATA)
            async with setup.transaction() as session:
                await session.execute(_NOTES.insert().values(body=body))
    settings = RdbmsSettings(
        url=primary_url, pool_size=1, pool_timeout=0.2, replica_check_interval=3600, health_check=False
    )
    async with Database(settings, replica_urls=[replica_url]) as db:
        async with db.session(read_only=True) as holder:
            assert (await holder.scalars(select(_NOTES.c.body))).all() == ["on the replica"]
            assert await _bodies(db, read_only=True) == ["on the primary"]
        assert (await db.health_check())["replicas"] == [  # as last probed: not marked down
            {
                "url": f"sqlite+aiosqlite:///{tmp_path}/busy-replica.db",
                "state": "ok",
                "lag_seconds": 0.0,
                "error": None,
            }
        ]
        assert await _bodies(db, read_only=True) == ["on the replica"]
