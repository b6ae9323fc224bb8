"""Integration: SQLite databases opened by ``Database`` enforce foreign keys, as PostgreSQL and MariaDB do.

SQLite ignores ``FOREIGN KEY`` clauses unless each connection turns ``PRAGMA foreign_keys`` on: a
child row pointing at a missing parent was stored silently, an orphan no other backend accepts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from internal_rdbms import Base, Database, IntPrimaryKeyMixin, RdbmsConflictError, RdbmsSettings, Repository

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Owner(IntPrimaryKeyMixin, Base):
    """A parent row."""

    __tablename__ = "rv_owner"
    name: Mapped[str] = mapped_column(String(20))


class Pet(IntPrimaryKeyMixin, Base):
    """A child row that must point at an existing owner."""

    __tablename__ = "rv_pet"
    owner_id: Mapped[int] = mapped_column(ForeignKey("rv_owner.id"))


TABLES = [Base.metadata.tables[name] for name in ("rv_owner", "rv_pet")]


@pytest.mark.parametrize("where", ["file", "memory"])
async def test_orphan_row_is_a_conflict(tmp_path: Path, where: str) -> None:
    """A child row whose parent does not exist is an RdbmsConflictError, and nothing is stored."""
    url = f"sqlite:///{tmp_path / 'fk.db'}" if where == "file" else "sqlite://"
    async with Database(RdbmsSettings(url=url, health_check=False)) as db:
        async with db.engine.begin() as connection:
            await connection.run_sync(lambda sync: Base.metadata.create_all(sync, tables=TABLES))
        with pytest.raises(RdbmsConflictError):
            async with db.transaction() as session:
                await Repository(session, Pet).add(Pet(owner_id=999))
        async with db.transaction() as session:
            owner = await Repository(session, Owner).add(Owner(name="ann"))
            await Repository(session, Pet).add(Pet(owner_id=owner.id))
        async with db.session() as session:
            assert (await session.execute(select(func.count()).select_from(Pet))).scalar_one() == 1
