"""Adversarial review: misconfigured replica URLs never crash startup, and say what is wrong, masked.

A replica that refuses the login, names a database that does not exist, or listens nowhere is
reported down by its non-critical health check (readiness stays 200 on the primary), read-only
work runs on the primary, and its password shows in no error, health detail or log line.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from internal_base.health import HealthRegistry, HealthStatus
from internal_rdbms import Database, RdbmsSettings
from internal_testing._topologies import PostgresReplica

pytestmark = pytest.mark.asyncio(loop_scope="session")

_PASSWORD = "replica-pw-5f0c2e"


def _bad_urls(pair: PostgresReplica) -> dict[str, str]:
    base = pair.replica_url
    host_port = base.split("@", 1)[1].split("/", 1)[0]
    closed = host_port.rsplit(":", 1)[0] + ":9"
    return {
        "unknown role": f"postgresql://no_such_role_x:{_PASSWORD}@{host_port}/postgres",
        "unknown database": f"postgresql://postgres:{_PASSWORD}@{host_port}/no_such_database_x",
        "closed port": f"postgresql://postgres:{_PASSWORD}@{closed}/postgres",
    }


@pytest.mark.parametrize("problem", ["unknown role", "unknown database", "closed port"])
async def test_a_misconfigured_replica_is_down_named_and_masked(
    postgres_replica: PostgresReplica, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Startup succeeds; readiness is degraded (200); the replica check names the masked URL and
    the reason; read-only work runs on the primary."""
    url = _bad_urls(postgres_replica)[problem]
    registry = HealthRegistry(cache_ttl=0)
    settings = RdbmsSettings(url=postgres_replica.primary_url, health_check_name="primary", connect_timeout=5)
    caplog.set_level(logging.DEBUG)
    async with Database(settings, replica_urls=[url], health_registry=registry) as db:
        assert _PASSWORD not in repr(db)
        async with db.transaction(read_only=True) as session:
            assert (await session.execute(text("SELECT pg_is_in_recovery()"))).scalar() is False
        report = await registry.readiness()
        assert (report.status, report.http_status) == (HealthStatus.DEGRADED, 200)
        replica = report.check("primary-replica-0")
        assert replica.status == HealthStatus.UNHEALTHY
        assert "***" in (replica.error or "")
        assert "is down" in (replica.error or "")
        (status,) = await db.replica_status()
        assert status["state"] == "down"
        shown = repr(report) + repr(status) + repr(await db.health_check()) + caplog.text
    assert _PASSWORD not in shown
    assert "no_such" in shown or problem == "closed port"
