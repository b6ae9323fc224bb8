"""Repository CRUD, transactions, savepoints, soft deletion and mixins on in-memory SQLite."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column

from internal_rdbms import (
    Base,
    Database,
    Eq,
    IntPrimaryKeyMixin,
    InvalidQueryError,
    RdbmsConflictError,
    RdbmsNotFoundError,
    Repository,
    SoftDeleteMixin,
    TimestampMixin,
    UUIDPrimaryKeyMixin,
    transaction,
)


class Account(IntPrimaryKeyMixin, TimestampMixin, Base):
    """An account with a unique email."""

    __tablename__ = "repo_accounts"
    email: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(80), default="")


class Note(UUIDPrimaryKeyMixin, SoftDeleteMixin, Base):
    """A soft-deletable note owned by an account."""

    __tablename__ = "repo_notes"
    account_id: Mapped[int] = mapped_column(ForeignKey("repo_accounts.id"))
    body: Mapped[str] = mapped_column(String(200))


class AccountRepository(Repository[Account]):
    """A repository that names its model as a class attribute."""

    model = Account


async def test_add_get_and_defaults(sqlite_db: Database) -> None:
    """``add`` flushes (id and timestamps set); ``get`` returns the same row in a later session."""
    async with sqlite_db.transaction() as session:
        account = await Repository(session, Account).add(Account(email="a@example.com", name="Ann"))
        assert isinstance(account.id, int)
        assert account.created_at.tzinfo is UTC
        account_id = account.id
    async with sqlite_db.session() as session:
        loaded = await AccountRepository(session).get(account_id)
        assert (loaded.email, loaded.name) == ("a@example.com", "Ann")
        assert loaded.created_at.tzinfo is UTC
        assert loaded.updated_at >= loaded.created_at


async def test_get_missing_raises_not_found(sqlite_db: Database) -> None:
    """A missing key raises RdbmsNotFoundError naming the model and key; ``get_or_none`` returns None."""
    async with sqlite_db.session() as session:
        repo = AccountRepository(session)
        assert await repo.get_or_none(999) is None
        with pytest.raises(RdbmsNotFoundError, match="Account with primary key 999 not found") as info:
            await repo.get(999)
    assert (info.value.model, info.value.key) == ("Account", 999)
    assert isinstance(info.value, LookupError)


async def test_list_count_exists_first(sqlite_db: Database) -> None:
    """Listing honours filters, order, limit and offset; count/exists/first agree."""
    async with sqlite_db.transaction() as session:
        repo = AccountRepository(session)
        await repo.add_many(Account(email=f"u{i}@example.com", name=name) for i, name in enumerate("cabba"))
        assert [a.name for a in await repo.list(order_by="name")] == ["a", "a", "b", "b", "c"]
        assert [a.email for a in await repo.list(name="b", order_by="-email")] == [
            "u3@example.com",
            "u2@example.com",
        ]
        assert [a.name for a in await repo.list(order_by="name", limit=2, offset=2)] == ["b", "b"]
        assert await repo.count() == 5
        assert await repo.count(Eq("name", "a")) == 2
        assert await repo.exists(name="c") is True
        assert await repo.exists(name="zzz") is False
        first = await repo.first(order_by="-name")
        assert first is not None
        assert first.name == "c"
        assert await repo.first(name="nobody") is None


async def test_list_rejects_bad_limit_and_offset(sqlite_db: Database) -> None:
    """Out-of-range limits and offsets raise InvalidQueryError."""
    async with sqlite_db.session() as session:
        repo = AccountRepository(session)
        with pytest.raises(InvalidQueryError, match="'limit'"):
            await repo.list(limit=0)
        with pytest.raises(InvalidQueryError, match="'offset'"):
            await repo.list(offset=-1)


async def test_unique_violation_is_conflict(sqlite_db: Database) -> None:
    """A duplicate unique value is an RdbmsConflictError chained to the IntegrityError, without parameters."""
    async with sqlite_db.transaction() as session:
        await AccountRepository(session).add(Account(email="dup@example.com"))
    with pytest.raises(RdbmsConflictError, match="integrity constraint violated") as info:
        async with sqlite_db.transaction() as session:
            await AccountRepository(session).add(Account(email="dup@example.com"))
    assert "dup@example.com" not in str(info.value)
    assert info.value.constraint == "repo_accounts.email"
    assert type(info.value.__cause__).__name__ == "IntegrityError"
    async with sqlite_db.session() as session:
        assert await AccountRepository(session).count(email="dup@example.com") == 1


async def test_transaction_rolls_back_on_error(sqlite_db: Database) -> None:
    """An exception inside ``transaction()`` rolls everything back and propagates unchanged."""

    async def failing_work() -> None:
        async with sqlite_db.transaction() as session:
            await AccountRepository(session).add(Account(email="gone@example.com"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await failing_work()
    async with sqlite_db.session() as session:
        assert await AccountRepository(session).exists(email="gone@example.com") is False


async def test_nested_transaction_is_a_savepoint(sqlite_db: Database) -> None:
    """A failed nested block undoes only itself; the outer transaction commits the rest."""
    async with sqlite_db.transaction() as session:
        repo = AccountRepository(session)
        await repo.add(Account(email="keep@example.com"))

        async def conflicting_block() -> None:
            async with sqlite_db.transaction(session):
                await repo.add(Account(email="other@example.com"))
                await repo.add(Account(email="keep@example.com"))

        with pytest.raises(RdbmsConflictError):
            await conflicting_block()
        async with transaction(session):
            await repo.add(Account(email="also@example.com"))
    async with sqlite_db.session() as session:
        emails = [a.email for a in await AccountRepository(session).list(order_by="email")]
    assert emails == ["also@example.com", "keep@example.com"]


async def test_transaction_on_idle_session_commits(sqlite_db: Database) -> None:
    """``transaction(session)`` on a session outside a transaction begins and commits one."""
    async with sqlite_db.session() as session:
        async with transaction(session):
            await AccountRepository(session).add(Account(email="idle@example.com"))
        assert session.in_transaction() is False
    async with sqlite_db.session() as session:
        assert await AccountRepository(session).exists(email="idle@example.com")


async def test_update_and_updated_at(sqlite_db: Database) -> None:
    """``update`` sets columns by instance or key and refreshes ``updated_at``."""
    async with sqlite_db.transaction() as session:
        repo = AccountRepository(session)
        account = await repo.add(Account(email="up@example.com", name="old"))
        before = account.updated_at
        account.updated_at = before - timedelta(hours=1)
        await session.flush()
        updated = await repo.update(account.id, name="new")
        assert updated is account
        assert updated.name == "new"
        assert updated.updated_at > before - timedelta(hours=1)
        assert (await repo.update(account, name="newer")).name == "newer"


async def test_update_rejects_unknown_and_primary_key_fields(sqlite_db: Database) -> None:
    """``update`` refuses unknown attributes and primary key columns, naming them."""
    async with sqlite_db.transaction() as session:
        repo = AccountRepository(session)
        account = await repo.add(Account(email="pk@example.com"))
        with pytest.raises(InvalidQueryError, match="'nope'"):
            await repo.update(account, nope=1)
        with pytest.raises(InvalidQueryError, match=r"'id'.*primary key"):
            await repo.update(account, id=5)
        with pytest.raises(RdbmsNotFoundError):
            await repo.update(12345, name="x")


async def test_hard_delete(sqlite_db: Database) -> None:
    """``delete`` removes rows of models without soft deletion; a missing key raises RdbmsNotFoundError."""
    async with sqlite_db.transaction() as session:
        repo = AccountRepository(session)
        account = await repo.add(Account(email="del@example.com"))
        await repo.delete(account.id)
        assert await repo.get_or_none(account.id) is None
        with pytest.raises(RdbmsNotFoundError):
            await repo.delete(account.id)
        with pytest.raises(InvalidQueryError, match="soft deletion"):
            await repo.restore(account)


async def test_soft_delete_hides_and_restores(sqlite_db: Database) -> None:
    """Soft-deleted rows are hidden by default, visible on request, restorable, and hard-deletable."""
    async with sqlite_db.transaction() as session:
        owner = await AccountRepository(session).add(Account(email="owner@example.com"))
        notes = Repository(session, Note)
        kept, dropped = await notes.add_many(
            [Note(account_id=owner.id, body="k"), Note(account_id=owner.id, body="d")]
        )
        assert isinstance(kept.id, uuid.UUID)
        await notes.delete(dropped.id)
        assert dropped.is_deleted is True
        assert [n.body for n in await notes.list()] == ["k"]
        assert await notes.count(include_deleted=True) == 2
        assert await notes.get_or_none(dropped.id) is None
        assert (await notes.get(dropped.id, include_deleted=True)).body == "d"
        with pytest.raises(RdbmsNotFoundError):
            await notes.delete(dropped.id)
        restored = await notes.restore(dropped.id)
        assert restored.is_deleted is False
        assert await notes.count() == 2
        await notes.delete(dropped, hard=True)
        assert await notes.count(include_deleted=True) == 1
        stmt = notes.select(body="k")
        assert (await session.scalars(stmt)).one().id == kept.id


def test_mixin_helpers_and_repr() -> None:
    """The soft-delete helpers flip ``deleted_at``; ``repr`` shows only the primary key."""
    note = Note(body="secret text")
    note.soft_delete(datetime(2024, 1, 1, tzinfo=UTC))
    assert note.deleted_at == datetime(2024, 1, 1, tzinfo=UTC)
    note.restore()
    assert note.is_deleted is False
    account = Account(id=7, email="hidden@example.com")
    assert repr(account) == "Account(id=7)"
    assert repr(AccountRepository.__new__(AccountRepository)).startswith("AccountRepository(")


def test_repository_needs_a_model(sqlite_db: Database) -> None:
    """A Repository without a model fails at construction with a clear message."""
    with pytest.raises(TypeError, match="needs a model"):
        Repository(sqlite_db.session_factory())


async def test_timestamps_are_stored_in_utc(sqlite_db: Database) -> None:
    """Aware datetimes in any zone are stored as UTC; naive ones are taken as UTC."""
    plus_two = timezone(timedelta(hours=2))
    async with sqlite_db.transaction() as session:
        a = await AccountRepository(session).add(
            Account(
                email="tz@example.com", created_at=datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=plus_two)
            )
        )
        b = await AccountRepository(session).add(
            Account(email="naive@example.com", created_at=datetime(2024, 5, 1, 12, 0))
        )
        ids = (a.id, b.id)
    async with sqlite_db.session() as session:
        rows = await session.execute(
            select(Account.created_at).where(Account.id.in_(ids)).order_by(Account.id)
        )
        assert rows.scalars().all() == [
            datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC),
            datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        ]


async def test_run_commits_without_retry(sqlite_db: Database) -> None:
    """``run`` without a policy runs once in a committed transaction."""

    async def work(session: object) -> int:
        account = await AccountRepository(session).add(Account(email="run@example.com"))  # type: ignore[arg-type]
        return account.id

    account_id = await sqlite_db.run(work)
    async with sqlite_db.session() as session:
        assert (await AccountRepository(session).get(account_id)).email == "run@example.com"


async def test_out_of_range_keys_and_offsets_are_client_errors(sqlite_db: Database) -> None:
    """A primary key beyond 64 bits is simply not found, a huge offset is invalid: no OverflowError."""
    async with sqlite_db.session() as session:
        repo = AccountRepository(session)
        assert await repo.get_or_none(2**63) is None
        with pytest.raises(RdbmsNotFoundError, match="not found"):
            await repo.get(-(2**70))
        with pytest.raises(InvalidQueryError, match="'offset'"):
            await repo.list(offset=2**64)
        assert await repo.list(offset=2**63 - 1) == []
