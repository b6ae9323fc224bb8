"""Defaults that hold under load (issue #15): readiness with a saturated pool, and no connection churn."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from internal_base.health import HealthRegistry, HealthStatus
from internal_rdbms import Database, RdbmsSettings

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(params=["postgresql", "mysql"])
def server_url(request: pytest.FixtureRequest) -> str:
    """This process's PostgreSQL or MariaDB database."""
    url: str = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")
    return url


def _count_connects(db: Database) -> list[int]:
    """A one-element list counting the new DBAPI connections the request pool opens from now on."""
    opened = [0]

    def connected(_dbapi_connection: object, _record: object) -> None:
        opened[0] += 1

    event.listen(db.engine.sync_engine, "connect", connected)
    return opened


async def test_readiness_stays_healthy_with_a_saturated_pool(server_url: str) -> None:
    """Every pooled connection held by requests: readiness still reports healthy, well within its timeout.

    Before, the check borrowed from the same pool: it waited ``pool_timeout`` (60 s here) and its
    own 10 s timeout failed it.
    """
    registry = HealthRegistry(cache_ttl=0)
    settings = RdbmsSettings(
        url=server_url, pool_size=2, max_overflow=0, pool_timeout=60, health_check_timeout=10
    )
    async with Database(settings, health_registry=registry) as db, AsyncExitStack() as held:
        for _ in range(2):
            session: AsyncSession = await held.enter_async_context(db.session())
            await session.execute(text("SELECT 1"))
        assert db.engine.pool.checkedout() == 2  # type: ignore[attr-defined]
        loop = asyncio.get_running_loop()
        started = loop.time()
        report = await registry.readiness()
        elapsed = loop.time() - started
        assert report.status == HealthStatus.HEALTHY, report
        result = report.check("rdbms")
        assert (result.details["checkedout"], result.details["size"]) == (2, 2)
        assert elapsed < 10  # generous: the pool would have made it wait 60 s
        for _ in range(5):  # repeated probes reuse the probe's one connection
            assert (await registry.readiness()).status == HealthStatus.HEALTHY


async def _burst(db: Database, units: int, concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def unit() -> None:
        async with gate, db.session() as session:
            await session.execute(text("SELECT 1"))
            await asyncio.sleep(0)  # hold the connection across a scheduling point

    await asyncio.gather(*(unit() for _ in range(units)))


async def test_default_pool_opens_no_more_than_pool_size_under_a_burst(server_url: str) -> None:
    """Defaults (pool_size 10, no overflow): bursts of 500 requests, 40 at a time, open ≤ 10 connections."""
    settings = RdbmsSettings(url=server_url, health_check=False)
    assert (settings.pool_size, settings.max_overflow, settings.pool_timeout) == (10, 0, 5.0)
    async with Database(settings) as db:
        opened = _count_connects(db)
        await _burst(db, units=500, concurrency=40)
        await _burst(db, units=500, concurrency=40)
        assert 1 <= opened[0] <= settings.pool_size


async def _hold_together(db: Database, count: int) -> None:
    """``count`` sessions each holding a connection at the same moment, then all returned."""
    barrier = asyncio.Barrier(count)

    async def hold() -> None:
        async with db.session() as session:
            await session.execute(text("SELECT 1"))
            await barrier.wait()

    await asyncio.gather(*(hold() for _ in range(count)))


async def test_overflow_churns_connections_and_warns(
    server_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """pool_size 5 + max_overflow 10: each burst above 5 opens and closes overflow connections; it warns."""
    settings = RdbmsSettings(url=server_url, pool_size=5, max_overflow=10, health_check=False)
    with caplog.at_level(logging.WARNING, logger="internal_rdbms"):
        db = Database(settings)
    assert any("connection churn" in record.getMessage() for record in caplog.records)
    async with db:
        opened = _count_connects(db)
        for _ in range(3):
            await _hold_together(db, 15)
        assert opened[0] >= 5 + 3 * 10  # 10 overflow connections opened (and closed) per burst
        assert db.engine.pool.checkedin() == 5  # type: ignore[attr-defined]
