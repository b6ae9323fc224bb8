"""Keyset cursors are signed with ``RdbmsSettings.cursor_secret`` through the sessions of a Database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from internal_base.cursor import CursorCodec
from internal_base.errors import ConfigurationError
from internal_rdbms import (
    Base,
    Database,
    IntPrimaryKeyMixin,
    InvalidQueryError,
    RdbmsSettings,
    Repository,
    paginate_keyset,
)

SECRET = "rdbms-cursor-secret-0123456789abcdef"


class Note(IntPrimaryKeyMixin, Base):
    """A row to page over."""

    __tablename__ = "sig_notes"
    text: Mapped[str] = mapped_column(String(20))


async def _database(secret: str | None) -> Database:
    db = Database(RdbmsSettings(url="sqlite://", cursor_secret=secret, health_check=False))
    await db.create_all(Base.metadata)
    async with db.transaction() as session:
        await Repository(session, Note).add_many(Note(text=f"n{i}") for i in range(5))
    return db


@pytest.fixture()
async def databases() -> AsyncIterator[tuple[Database, Database, Database]]:
    """Two databases sharing SECRET and one with another secret."""
    dbs = (
        await _database(SECRET),
        await _database(SECRET),
        await _database("a-different-secret-of-32-bytes!!"),
    )
    yield dbs
    for db in dbs:
        await db.aclose()


async def _first_cursor(db: Database) -> str:
    async with db.session() as session:
        cursor = (await Repository(session, Note).keyset(order_by="text", limit=2)).next_cursor
    assert cursor is not None
    return cursor


async def test_cursor_from_one_process_works_in_another_with_the_same_secret(
    databases: tuple[Database, Database, Database],
) -> None:
    """Databases configured with the same cursor_secret accept each other's cursors."""
    first, second, _ = databases
    cursor = await _first_cursor(first)
    async with second.session() as session:
        page = await Repository(session, Note).keyset(order_by="text", limit=2, cursor=cursor)
    assert [note.text for note in page.items] == ["n2", "n3"]


async def test_cursor_signed_with_another_secret_is_refused(
    databases: tuple[Database, Database, Database],
) -> None:
    """A cursor signed with another cursor_secret is an InvalidQueryError."""
    first, _, other = databases
    cursor = await _first_cursor(first)
    async with other.session() as session:
        with pytest.raises(InvalidQueryError, match="not a cursor issued by this API"):
            await Repository(session, Note).keyset(order_by="text", limit=2, cursor=cursor)


async def test_explicit_codec_wins_over_the_session_codec(
    databases: tuple[Database, Database, Database],
) -> None:
    """A codec passed to paginate_keyset signs and verifies instead of the session's."""
    first, _, _ = databases
    codec = CursorCodec("explicit-codec-secret-0123456789")
    async with first.session() as session:
        page = await paginate_keyset(session, Note, limit=2, codec=codec)
        assert page.next_cursor is not None
        with pytest.raises(InvalidQueryError, match="not a cursor issued by this API"):
            await paginate_keyset(session, Note, limit=2, cursor=page.next_cursor)
        again = await paginate_keyset(session, Note, limit=2, cursor=page.next_cursor, codec=codec)
    assert [note.id for note in again.items] == [3, 4]


def test_short_cursor_secret_is_rejected_naming_the_field() -> None:
    """A cursor_secret under 16 bytes is a configuration error naming the field, without the value."""
    with pytest.raises(ConfigurationError, match="cursor_secret") as info:
        RdbmsSettings.load(cursor_secret="short-secret")
    assert "short-secret" not in str(info.value)


def test_cursor_secret_from_environment_is_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """COMMONS_RDBMS_CURSOR_SECRET is read and never shown in the settings repr."""
    monkeypatch.setenv("COMMONS_RDBMS_CURSOR_SECRET", SECRET)
    settings = RdbmsSettings.load()
    assert settings.cursor_secret is not None
    assert settings.cursor_secret.get_secret_value() == SECRET
    assert SECRET not in repr(settings)


async def test_sqlite_lower_folds_non_ascii_letters() -> None:
    """Database installs a Unicode lower() on SQLite connections, as PostgreSQL's and MariaDB's."""
    async with Database(RdbmsSettings(url="sqlite://", health_check=False)) as db, db.session() as session:
        folded = (await session.execute(select(func.lower("ÄÉÇ ABC"), func.lower(None)))).one()
    assert tuple(folded) == ("äéç abc", None)


async def test_repository_keyset_takes_a_codec(databases: tuple[Database, Database, Database]) -> None:
    """Repository.keyset(codec=...) signs with that codec: the session's codec refuses its cursors."""
    first, _, _ = databases
    codec = CursorCodec("repository-codec-secret-01234567")
    async with first.session() as session:
        repo = Repository(session, Note)
        cursor = (await repo.keyset(order_by="text", limit=2, codec=codec)).next_cursor
        assert cursor is not None
        with pytest.raises(InvalidQueryError, match="not a cursor issued by this API"):
            await repo.keyset(order_by="text", limit=2, cursor=cursor)
        page = await repo.keyset(order_by="text", limit=2, cursor=cursor, codec=codec)
    assert [note.text for note in page.items] == ["n2", "n3"]
