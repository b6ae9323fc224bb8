from __future__ import annotations

import os
from contextlib import ExitStack
from typing import Any

import pytest

from internal_testing._mysql import _greets, admin_driver, execute, fresh_database, start_local_mariadb
from internal_testing._process import free_port
from internal_testing._sql import ServerUrl, run_coroutine

aiomysql = pytest.importorskip("aiomysql")


def _database_exists(url: str) -> bool:
    server = ServerUrl.parse(url, scheme="mysql", default_port=3306, default_database="")
    result: list[Any] = []

    async def query() -> None:
        conn = await aiomysql.connect(
            host=server.host, port=server.port, user=server.user or "root", password=server.password or ""
        )
        try:
            async with conn.cursor() as cursor:
                await cursor.execute(
                    "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = %s",
                    (server.database,),
                )
                result.append((await cursor.fetchone())[0])
        finally:
            conn.close()

    run_coroutine(query)
    return bool(result[0])


def test_mysql_url_fixture_is_a_fresh_database(mysql_url: str) -> None:
    assert mysql_url.startswith("mysql://")
    assert mysql_url.rsplit("/", 1)[1].startswith(f"t_{os.getpid()}_")
    assert _database_exists(mysql_url)


@pytest.mark.parametrize("driver", ["aiomysql", "cli"])
def test_fresh_database_is_created_and_dropped(mysql_url: str, driver: str) -> None:
    with fresh_database(mysql_url, driver=driver) as url:
        assert url != mysql_url
        assert _database_exists(url)
    assert not _database_exists(url)


def test_sql_errors_surface(mysql_url: str) -> None:
    server = ServerUrl.parse(mysql_url, scheme="mysql", default_port=3306, default_database="")
    with pytest.raises(RuntimeError, match="failed"):
        execute(server, "SELECT * FROM no_such_db.no_such_table", driver="cli")
    with pytest.raises(aiomysql.Error):
        execute(server, "SELECT * FROM no_such_db.no_such_table", driver="aiomysql")


def test_admin_driver_prefers_aiomysql() -> None:
    assert admin_driver() == "aiomysql"


def test_greets_is_false_without_a_server() -> None:
    assert _greets(free_port()) is False


@pytest.mark.slow()
def test_local_mariadb_server_step() -> None:
    with ExitStack() as stack:
        url = start_local_mariadb(stack)
        assert url.startswith("mysql://root@127.0.0.1:")
        with fresh_database(url, driver="cli") as database_url:
            assert _database_exists(database_url)
        port = ServerUrl.parse(url, scheme="mysql", default_port=3306, default_database="").port
    assert _greets(port) is False
