"""Adversarial review of ``internal_rdbms.telemetry``: errors, re-instrumenting, replicas, many engines."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from internal_base.telemetry import Telemetry, configure_telemetry
from internal_rdbms import Database, RdbmsSettings
from internal_rdbms._telemetry import _STATE
from internal_rdbms.telemetry import instrument, uninstrument
from internal_testing._topologies import PostgresReplica

pytestmark = pytest.mark.asyncio(loop_scope="session")

_SECRET = "bound-secret-4e7a1c"
_PASSWORD = "url-pw-93b1d0"  # ignored by the trust-auth test servers


@pytest.fixture()
def telemetry() -> Iterator[Telemetry]:
    """In-memory telemetry; internal_rdbms uninstrumented afterwards."""
    configured = configure_telemetry(service_name="rdbms-review", exporter="memory")
    yield configured
    uninstrument()


@pytest.fixture(params=["postgresql", "mysql"])
def server_url(request: pytest.FixtureRequest) -> str:
    """This process's PostgreSQL or MariaDB database."""
    url: str = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")
    return url


def _points(telemetry: Telemetry, name: str) -> list[Any]:
    assert telemetry.metric_reader is not None
    data = telemetry.metric_reader.get_metrics_data()
    return [
        point
        for resource in (data.resource_metrics if data is not None else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


async def test_failed_statements_keep_bound_values_out_of_spans(
    telemetry: Telemetry, server_url: str
) -> None:
    """A duplicate key (MariaDB's message quotes the value) and a bad cast (PostgreSQL's quotes the
    argument): the span is an error with the type and code, never the value."""
    instrument()
    async with Database(RdbmsSettings(url=server_url, health_check=False)) as db, db.session() as session:
        await session.execute(text("CREATE TEMPORARY TABLE review_tel (v VARCHAR(60) PRIMARY KEY)"))
        await session.execute(text("INSERT INTO review_tel VALUES (:v)"), [{"v": _SECRET}, {"v": "x"}])
        with pytest.raises(DBAPIError):
            await session.execute(text("INSERT INTO review_tel VALUES (:v)"), {"v": _SECRET})
        await session.rollback()
        if db.backend == "postgresql":  # MariaDB casts anything to a number, with a warning
            with pytest.raises(DBAPIError):
                await session.execute(text("SELECT CAST(:v AS INTEGER)"), {"v": _SECRET})
    assert telemetry.span_exporter is not None
    spans = telemetry.span_exporter.get_finished_spans()
    errors = [span for span in spans if span.status.description]
    assert errors, "a failed statement must end its span as an error"
    for span in spans:
        blob = repr(dict(span.attributes or {})) + repr(span.status.description)
        blob += repr([dict(event.attributes or {}) for event in span.events])
        assert _SECRET not in blob, span.name


async def test_instrument_again_after_uninstrument_reports_pool_metrics(
    telemetry: Telemetry, server_url: str
) -> None:
    """instrument(), uninstrument(), instrument() on one meter provider: the connection count comes back."""
    instrument()
    uninstrument()
    instrument()
    async with Database(RdbmsSettings(url=server_url, health_check=False)) as db, db.session() as session:
        await session.execute(text("SELECT 1"))
        states = {
            point.attributes["db.client.connection.state"]
            for point in _points(telemetry, "db.client.connection.count")
        }
        assert states == {"used", "idle"}


async def test_replica_pools_are_reported_apart_without_passwords(
    telemetry: Telemetry, postgres_replica: PostgresReplica
) -> None:
    """The primary's and the replica's pools are separate series; no attribute holds the password."""
    instrument()

    def with_password(url: str) -> str:
        return url.replace("postgres@", f"postgres:{_PASSWORD}@", 1)

    settings = RdbmsSettings(url=with_password(postgres_replica.primary_url), health_check=False)
    async with Database(settings, replica_urls=[with_password(postgres_replica.replica_url)]) as db:
        async with db.transaction(read_only=True) as reader, db.transaction() as writer:
            await reader.execute(text("SELECT 1"))
            await writer.execute(text("SELECT 1"))
            points = _points(telemetry, "db.client.connection.count")
        ports = {
            str(url).rsplit(":", 1)[1].split("/")[0] for url in (db.engine.url, db.replica_engines[0].url)
        }
        used = {
            str(point.attributes["db.client.connection.pool.name"])
            for point in points
            if point.attributes["db.client.connection.state"] == "used" and point.value > 0
        }
        assert {name.rsplit(":", 1)[1].split("/")[0] for name in used} >= ports
    assert _PASSWORD not in repr([dict(point.attributes) for point in points])
    assert telemetry.span_exporter is not None
    for span in telemetry.span_exporter.get_finished_spans():
        assert _PASSWORD not in repr(dict(span.attributes or {})), span.name


async def test_closed_databases_leave_no_listeners_behind(telemetry: Telemetry, server_url: str) -> None:
    """Databases opened and closed one after another: the listeners kept for uninstrument() stay bounded."""
    instrument()
    settings = RdbmsSettings(url=server_url, health_check=False)
    sizes = []
    for _ in range(12):
        async with Database(settings) as db, db.session() as session:
            await session.execute(text("SELECT 1"))
        del db, session
        gc.collect()
        sizes.append(len(_STATE.listeners))
    assert sizes[-1] <= sizes[2], sizes
