"""Integration: a password holding ``@`` (unencoded) connects, and no part of it reaches a message.

SQLAlchemy ends a URL's password at its first ``@``: ``mysql://app:p@ss@db/x`` became password
``p`` on host ``ss@db``, so the connection failed and the error ("Can't connect to MySQL server on
'ss@db'") and ``engine.url`` showed the rest of the password. ``urllib`` and the redaction policy
end the userinfo at the last ``@`` before the host; so does ``Database`` now.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.engine import make_url

from internal_rdbms import Database, RdbmsSettings

pytestmark = pytest.mark.asyncio(loop_scope="session")

SECRET_TAIL = "t41lofp4ss"  # the part after the first "@": never in a message or a repr


@pytest_asyncio.fixture(loop_scope="session")
async def mysql_user(mysql_url: str) -> AsyncIterator[tuple[str, str]]:
    """A MariaDB/MySQL user whose password holds two ``@``; dropped afterwards."""
    name = f"rv_{uuid.uuid4().hex[:12]}"
    password = f"p@{SECRET_TAIL}@x"
    admin = Database(RdbmsSettings(url=mysql_url, health_check=False))
    async with admin.engine.begin() as connection:
        await connection.execute(text(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'"))
    try:
        yield name, password
    finally:
        async with admin.engine.begin() as connection:
            await connection.execute(text(f"DROP USER '{name}'@'%'"))
        await admin.aclose()


async def _select_one(url: str) -> int:
    async with Database(RdbmsSettings(url=url, health_check=False)) as db:
        assert SECRET_TAIL not in repr(db)
        assert SECRET_TAIL not in db.engine.url.render_as_string(hide_password=True)
        async with db.session() as session:
            value: int = (await session.execute(text("SELECT 1"))).scalar_one()
            return value


async def test_mysql_password_with_at_signs_connects(mysql_url: str, mysql_user: tuple[str, str]) -> None:
    """``mysql://user:p@tail@x@host/db`` logs in with the whole password ``p@tail@x``."""
    name, password = mysql_user
    server = make_url(mysql_url)
    url = f"mysql://{name}:{password}@{server.host}:{server.port or 3306}/"
    assert await _select_one(url) == 1


async def test_postgres_password_with_at_signs_reaches_the_host(postgres_url: str) -> None:
    """``postgresql://postgres:p@tail@host/db`` connects to ``host`` (trust auth), not to ``tail@host``."""
    server = make_url(postgres_url)
    url = f"postgresql://postgres:p@{SECRET_TAIL}@{server.host}:{server.port or 5432}/{server.database}"
    assert await _select_one(url) == 1


async def test_settings_keep_the_whole_password() -> None:
    """The settings' URL carries the password percent-encoded, so SQLAlchemy reads all of it."""
    settings = RdbmsSettings(url=f"mariadb://app:p@{SECRET_TAIL}@db.internal:3306/app", health_check=False)
    url = make_url(settings.url.get_secret_value())
    parts = (url.username, url.password, url.host, url.port)
    assert parts == ("app", f"p@{SECRET_TAIL}", "db.internal", 3306)
    assert SECRET_TAIL not in settings.redacted_url
