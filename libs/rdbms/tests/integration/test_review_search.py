"""Integration: case-insensitive search folds letters the same way on every backend and column.

PostgreSQL's ``lower()`` folds under the collation of its argument: on a column declared with
``COLLATE "C"`` it folds ASCII only, while the term (default collation) folds every letter, so the
stored value itself was not found. Python's ``str.lower`` (SQLite) applies context rules no server
applies: a final capital sigma becomes ``ς`` and ``İ`` becomes two code points.
"""

from __future__ import annotations

import pytest

from internal_rdbms import Database, Repository, Search

from .test_column_types import Typed, backend_url, typed_db

__all__ = ["backend_url", "typed_db"]  # fixtures shared with the per-type tests

pytestmark = pytest.mark.asyncio(loop_scope="session")

NAMES = ["ΟΔΟΣ", "İstanbul", "ÉCOLE", "Ǆemal"]


async def _found(db: Database, tag: str, field: str, term: str) -> list[str]:
    async with db.session() as session:
        rows = await Repository(session, Typed).list(Search(field, term, case_sensitive=False), tag=tag)
        return sorted(getattr(row, field) for row in rows)


async def _insert(db: Database, tag: str, field: str) -> None:
    async with db.transaction() as session:
        await Repository(session, Typed).add_many(Typed(tag=tag, **{field: name}) for name in NAMES)


@pytest.mark.parametrize("field", ["name", "folded"])
async def test_stored_value_finds_itself_case_insensitively(
    typed_db: Database, unique_name: str, field: str
) -> None:
    """Searching a stored non-ASCII value case-insensitively finds it, whatever the column's collation."""
    await _insert(typed_db, unique_name, field)
    found = {name: await _found(typed_db, unique_name, field, name) for name in NAMES}
    assert found == {name: [name] for name in NAMES}


@pytest.mark.parametrize("field", ["name", "folded"])
async def test_lower_case_terms_fold_like_postgresql(
    typed_db: Database, unique_name: str, field: str
) -> None:
    """Small sigma finds a final capital sigma, i finds dotted I; a final sigma does not (every backend)."""
    await _insert(typed_db, unique_name, field)
    terms = ["οδοσ", "ist", "ǆemal", "école", "οδος"]
    found = {term: await _found(typed_db, unique_name, field, term) for term in terms}
    assert found == {
        "οδοσ": ["ΟΔΟΣ"],
        "ist": ["İstanbul"],
        "ǆemal": ["Ǆemal"],
        "école": ["ÉCOLE"],
        "οδος": [],
    }
