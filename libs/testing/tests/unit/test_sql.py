from __future__ import annotations

import asyncio
import threading

import pytest

from internal_testing._sql import ServerUrl, run_coroutine


def test_parse_normalises_the_scheme_and_keeps_the_rest() -> None:
    url = ServerUrl.parse(
        "postgresql+asyncpg://us%40er:p%3Ass@db.example:6543/app?sslmode=disable",
        scheme="postgresql",
        default_port=5432,
        default_database="postgres",
    )
    assert url == ServerUrl("postgresql", "db.example", 6543, "us@er", "p:ss", "app", "sslmode=disable")
    assert url.with_database("t_1_ab") == "postgresql://us%40er:p%3Ass@db.example:6543/t_1_ab?sslmode=disable"


def test_parse_fills_in_defaults() -> None:
    url = ServerUrl.parse("mysql://", scheme="mysql", default_port=3306, default_database="")
    assert (url.host, url.port, url.user, url.password, url.database) == ("127.0.0.1", 3306, None, None, "")
    assert url.with_database("x") == "mysql://127.0.0.1:3306/x"


def test_user_without_password_and_ipv6_hosts() -> None:
    url = ServerUrl.parse(
        "postgres://root@[::1]/", scheme="postgresql", default_port=5432, default_database="db"
    )
    assert url.database == "db"
    assert url.with_database("t") == "postgresql://root@[::1]:5432/t"


def test_run_coroutine_works_inside_a_running_loop() -> None:
    seen: list[str] = []

    async def record() -> None:
        seen.append(threading.current_thread().name)

    async def outer() -> None:
        run_coroutine(record)

    asyncio.run(outer())
    assert seen == ["internal-testing-sql"]


def test_run_coroutine_reraises_and_times_out() -> None:
    async def boom() -> None:
        raise LookupError("boom")

    async def slow() -> None:
        await asyncio.sleep(2)

    with pytest.raises(LookupError, match="boom"):
        run_coroutine(boom)
    with pytest.raises(TimeoutError, match="within 0.1s"):
        run_coroutine(slow, timeout=0.1)
