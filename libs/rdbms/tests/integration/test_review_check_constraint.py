"""Integration: a CHECK constraint violation is an RdbmsConflictError on every backend.

PostgreSQL and SQLite report it as an integrity error; MariaDB reports error 4025 ("CONSTRAINT
`ck_...` failed for ...") as an OperationalError, and MySQL 8 reports 3819, so on those servers the
same violation was a QueryError (a 500) instead of a conflict (a 409) naming the constraint.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import CheckConstraint, Integer, String, select, text
from sqlalchemy.orm import Mapped, mapped_column

from internal_rdbms import Base, Database, IntPrimaryKeyMixin, RdbmsConflictError, RdbmsSettings, Repository

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Bounded(IntPrimaryKeyMixin, Base):
    """A number that must stay below 100; ``tag`` isolates the rows of each test."""

    __tablename__ = "rv_bounded"
    __table_args__ = (CheckConstraint("number < 100", name="number_small"),)
    tag: Mapped[str] = mapped_column(String(64), index=True)
    number: Mapped[int] = mapped_column(Integer)


TABLE = Base.metadata.tables[Bounded.__tablename__]


@pytest.fixture(scope="session", params=["postgresql", "mysql", "sqlite"])
def check_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh database on each backend."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("sqlite") / "check.db"
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")
    return url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def check_db(check_url: str) -> AsyncIterator[Database]:
    """A Database per backend with the ``rv_bounded`` table."""
    database = Database(RdbmsSettings(url=check_url, health_check=False))
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: Base.metadata.create_all(sync, tables=[TABLE]))
    yield database
    await database.aclose()


async def test_check_violation_is_a_conflict_naming_the_constraint(
    check_db: Database, unique_name: str
) -> None:
    """Inserting a row that fails a CHECK is RdbmsConflictError(constraint='ck_rv_bounded_number_small')."""
    with pytest.raises(RdbmsConflictError) as caught:
        async with check_db.transaction() as session:
            await Repository(session, Bounded).add(Bounded(tag=unique_name, number=500))
    assert caught.value.constraint == "ck_rv_bounded_number_small"
    assert "500" not in str(caught.value)
    async with check_db.transaction() as session:
        await Repository(session, Bounded).add(Bounded(tag=unique_name, number=5))
        assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
        rows = await session.scalars(select(Bounded.number).where(Bounded.tag == unique_name))
        assert list(rows) == [5]
