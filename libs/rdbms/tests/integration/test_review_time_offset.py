"""Integration: a time with a UTC offset is refused for a ``Time()`` column (as for ``DateTime()``).

The column stores no offset, and every backend silently dropped it: ``clock = 02:30+05:00`` found
the row holding 02:30, which is 21:30 UTC. Guessing what the offset should mean is a silent
default; the value is refused, naming the field, and the session stays usable.
"""

from __future__ import annotations

from datetime import time

import pytest
from sqlalchemy import text

from internal_rdbms import Database, InvalidQueryError, Repository, parse_filters

from .test_column_types import Typed, backend_url, typed_db

__all__ = ["backend_url", "typed_db"]  # fixtures shared with the per-type tests

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize("value", ["02:30:00+05:00", "02:30:00Z", "02:30:00+00:00"])
@pytest.mark.parametrize("op", ["eq", "gt", "in"])
async def test_time_with_offset_is_refused(typed_db: Database, unique_name: str, value: str, op: str) -> None:
    """``clock__<op>=02:30:00+05:00`` is an InvalidQueryError naming 'clock'; the session still works."""
    async with typed_db.transaction() as session:
        await Repository(session, Typed).add(Typed(tag=unique_name, clock=time(2, 30)))
    async with typed_db.session() as session:
        repo = Repository(session, Typed)
        with pytest.raises(InvalidQueryError, match="field 'clock'.*offset"):
            await repo.list(*parse_filters({f"clock__{op}": value}), tag=unique_name)
        rows = await repo.list(*parse_filters({"clock": "02:30:00"}), tag=unique_name)
        assert [row.clock for row in rows] == [time(2, 30)]
        assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
