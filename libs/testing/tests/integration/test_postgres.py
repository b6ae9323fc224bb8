from __future__ import annotations

import os
from contextlib import ExitStack
from typing import Any

import pytest

from internal_testing._postgres import (
    _service_user,
    admin_driver,
    execute,
    fresh_database,
    start_local_postgres,
)
from internal_testing._sql import ServerUrl, run_coroutine

asyncpg = pytest.importorskip("asyncpg")


def _current_database(url: str) -> str:
    result: list[Any] = []

    async def query() -> None:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            result.append(await conn.fetchval("select current_database()"))
        finally:
            await conn.close()

    run_coroutine(query)
    return str(result[0])


def test_postgres_url_fixture_is_a_fresh_database(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql://")
    name = postgres_url.rsplit("/", 1)[1]
    assert name.startswith(f"t_{os.getpid()}_")
    assert _current_database(postgres_url) == name


@pytest.mark.parametrize("driver", ["asyncpg", "psql"])
def test_fresh_database_is_created_and_dropped(postgres_url: str, driver: str) -> None:
    with fresh_database(postgres_url, driver=driver) as url:
        name = url.rsplit("/", 1)[1]
        assert name != postgres_url.rsplit("/", 1)[1]
        assert _current_database(url) == name
    with pytest.raises(asyncpg.InvalidCatalogNameError):
        _current_database(url)


def test_sql_errors_surface(postgres_url: str) -> None:
    server = ServerUrl.parse(
        postgres_url, scheme="postgresql", default_port=5432, default_database="postgres"
    )
    with pytest.raises(RuntimeError, match="psql failed"):
        execute(server, "select * from no_such_table", driver="psql")
    with pytest.raises(asyncpg.UndefinedTableError):
        execute(server, "select * from no_such_table", driver="asyncpg")


def test_admin_driver_prefers_asyncpg() -> None:
    assert admin_driver() == "asyncpg"


def test_the_server_runs_as_postgres_when_we_are_root() -> None:
    account = _service_user()
    if os.geteuid() == 0:
        assert account is not None
        assert account.pw_name == "postgres"
    else:
        assert account is None


@pytest.mark.slow()
def test_local_postgres_server_step() -> None:
    with ExitStack() as stack:
        url = start_local_postgres(stack)
        assert url.startswith("postgresql://postgres@127.0.0.1:")
        with fresh_database(url) as database_url:
            assert _current_database(database_url).startswith("t_")
    with pytest.raises(OSError):
        _current_database(url)
