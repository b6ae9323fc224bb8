from __future__ import annotations

import time
from typing import Any

import pytest

from internal_testing import PostgresReplica
from internal_testing._names import unique_name
from internal_testing._sql import run_coroutine

asyncpg = pytest.importorskip("asyncpg")


def _run(url: str, sql: str, *args: Any) -> Any:
    """Run one statement on ``url`` and return its first value (asyncpg ``fetchval``)."""
    result: list[Any] = []

    async def go() -> None:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            result.append(await conn.fetchval(sql, *args))
        finally:
            await conn.close()

    run_coroutine(go)
    return result[0]


def _eventually(url: str, sql: str, expected: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = _run(url, sql)
        except (OSError, asyncpg.PostgresError):
            value = None
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


@pytest.fixture(scope="module")
def table(postgres_replica: PostgresReplica) -> str:
    """A table created on the primary for this module, once the replica has it too."""
    name = unique_name("replica").replace("-", "_")
    _run(postgres_replica.primary_url, f"CREATE TABLE {name} (id int PRIMARY KEY, note text)")
    exists = f"SELECT to_regclass('{name}') IS NOT NULL"
    assert _eventually(postgres_replica.replica_url, exists, True) is True
    return name


def test_the_replica_is_a_hot_standby(postgres_replica: PostgresReplica) -> None:
    """The replica is in recovery; the primary is not."""
    assert _run(postgres_replica.replica_url, "SELECT pg_is_in_recovery()") is True
    assert _run(postgres_replica.primary_url, "SELECT pg_is_in_recovery()") is False


def test_a_row_inserted_on_the_primary_reaches_the_replica(
    postgres_replica: PostgresReplica, table: str
) -> None:
    """A committed insert on the primary is readable on the replica within a bounded wait."""
    _run(postgres_replica.primary_url, f"INSERT INTO {table} VALUES (1, 'streamed')")
    seen = _eventually(postgres_replica.replica_url, f"SELECT note FROM {table} WHERE id = 1", "streamed")
    assert seen == "streamed"


def test_an_insert_on_the_replica_fails_read_only(postgres_replica: PostgresReplica, table: str) -> None:
    """Writing on the replica fails with PostgreSQL's read-only transaction error."""
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError, match="read-only transaction"):
        _run(postgres_replica.replica_url, f"INSERT INTO {table} VALUES (2, 'refused')")


@pytest.mark.slow()
def test_a_stopped_replica_refuses_then_catches_up(postgres_replica: PostgresReplica, table: str) -> None:
    """With the replica stopped connections fail; started again it catches up on rows written meanwhile."""
    if not postgres_replica.managed:
        pytest.skip("the replica comes from COMMONS_POSTGRES_REPLICA_URL; it cannot be stopped here")
    postgres_replica.stop_replica()
    try:
        with pytest.raises(OSError):
            _run(postgres_replica.replica_url, "SELECT 1")
        _run(postgres_replica.primary_url, f"INSERT INTO {table} VALUES (3, 'while down')")
    finally:
        postgres_replica.start_replica()
    seen = _eventually(postgres_replica.replica_url, f"SELECT note FROM {table} WHERE id = 3", "while down")
    assert seen == "while down"
