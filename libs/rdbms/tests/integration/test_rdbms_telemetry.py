"""``internal_rdbms.telemetry`` against real PostgreSQL and MariaDB, with in-memory exporter and reader."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from internal_base.telemetry import Telemetry, configure_telemetry, span
from internal_rdbms import Database, RdbmsSettings
from internal_rdbms.telemetry import instrument, is_instrumented, uninstrument

pytestmark = pytest.mark.asyncio(loop_scope="session")

_PASSWORD = "tel-pw-8c1f3e"  # a password the trust/no-password servers ignore
_BOUND = "bound-value-5d2a9b"


@pytest.fixture(params=["postgresql", "mysql"])
def server_url(request: pytest.FixtureRequest) -> str:
    """This process's database, with a password the test servers accept (and ignore)."""
    backend = request.param
    url: str = request.getfixturevalue("postgres_url" if backend == "postgresql" else "mysql_url")
    if backend == "mysql":
        return url  # root without a password: MariaDB would check a given one
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user.split(':', 1)[0]}:{_PASSWORD}@{host}"


@pytest.fixture()
def telemetry() -> Iterator[Telemetry]:
    """In-memory telemetry with internal_rdbms instrumented; uninstrumented afterwards."""
    configured = configure_telemetry(service_name="rdbms-telemetry-test", exporter="memory")
    yield configured
    uninstrument()


def _statement_spans(telemetry: Telemetry, marker: str) -> list[Any]:
    assert telemetry.span_exporter is not None
    return [
        finished
        for finished in telemetry.span_exporter.get_finished_spans()
        if marker in str((finished.attributes or {}).get("db.statement", ""))
    ]


def _points(telemetry: Telemetry, name: str) -> list[Any]:
    assert telemetry.metric_reader is not None
    data = telemetry.metric_reader.get_metrics_data()
    found: list[Any] = []
    for resource in data.resource_metrics if data is not None else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    found.extend(metric.data.data_points)
    return found


async def test_spans_for_existing_and_new_databases_without_values_or_passwords(
    telemetry: Telemetry, server_url: str
) -> None:
    """A Database created before instrument() and one created after both trace statements, nested in
    the current span; no span attribute holds a bound value or the URL's password."""
    settings = RdbmsSettings(url=server_url, health_check=False)
    async with Database(settings) as before:
        instrument()
        instrument()  # idempotent
        assert is_instrumented()
        async with Database(settings) as after:
            with span("request") as parent:
                for db, marker in ((before, "existing_db"), (after, "new_db")):
                    async with db.session() as session:
                        query = text(f"SELECT :value AS {marker}")
                        assert (await session.execute(query, {"value": _BOUND})).scalar() == _BOUND
    for marker in ("existing_db", "new_db"):
        (statement,) = _statement_spans(telemetry, marker)
        assert statement.parent is not None
        assert statement.parent.span_id == parent.get_span_context().span_id
        assert statement.context is not None
        assert statement.context.trace_id == parent.get_span_context().trace_id
        assert statement.attributes is not None
        assert statement.attributes["db.system"] in ("postgresql", "mysql")
    assert telemetry.span_exporter is not None
    for finished in telemetry.span_exporter.get_finished_spans():
        for key, value in (finished.attributes or {}).items():
            assert _BOUND not in str(value), (finished.name, key)
            assert _PASSWORD not in str(value), (finished.name, key)


async def test_pool_usage_and_operation_duration_metrics(telemetry: Telemetry, server_url: str) -> None:
    """db.client.connection.count: used/idle from the pool; db.client.operation.duration: each statement."""
    instrument()
    settings = RdbmsSettings(url=server_url, health_check=False, pool_size=3)
    async with Database(settings) as db:
        pool_name = (
            f"{db.engine.url.drivername}://{db.engine.url.host}:{db.engine.url.port}/{db.engine.url.database}"
        )

        def counts() -> dict[str, int]:
            return {
                str(point.attributes["db.client.connection.state"]): point.value
                for point in _points(telemetry, "db.client.connection.count")
                if point.attributes.get("db.client.connection.pool.name") == pool_name
            }

        # Other databases of this process on the same URL share the pool name (their counts add up).
        before = counts()
        used, idle = before.get("used", 0), before.get("idle", 0)
        async with db.session() as first, db.session() as second:
            await first.execute(text("SELECT 1"))
            await second.execute(text("SELECT 2"))
            assert counts() == {"used": used + 2, "idle": idle}
        assert counts() == {"used": used, "idle": idle + 2}
        durations = [
            point
            for point in _points(telemetry, "db.client.operation.duration")
            if point.attributes.get("db.operation.name") == "SELECT"
            and point.attributes.get("db.system.name") == db.engine.dialect.name
        ]
        assert durations
        assert sum(point.count for point in durations) >= 2
        assert _PASSWORD not in repr(_points(telemetry, "db.client.connection.count"))
        with pytest.raises(Exception, match="no_such_table"):
            async with db.session() as session:
                await session.execute(text("SELECT * FROM no_such_table_x"))
        failed = [
            point
            for point in _points(telemetry, "db.client.operation.duration")
            if "error.type" in point.attributes
        ]
        assert failed


async def test_uninstrument_stops_spans_and_metrics(telemetry: Telemetry, server_url: str) -> None:
    """After uninstrument() no statement span is recorded and the pool gauge reports nothing."""
    instrument()
    uninstrument()
    uninstrument()  # idempotent
    assert not is_instrumented()
    async with Database(RdbmsSettings(url=server_url, health_check=False)) as db, db.session() as session:
        await session.execute(text("SELECT 1 AS after_uninstrument"))
    assert _statement_spans(telemetry, "after_uninstrument") == []
    assert _points(telemetry, "db.client.connection.count") == []
