"""The :class:`Database` (engine, sessions, transactions, retried units of work, health, lifecycle).

Example::

    from internal_rdbms.session import Database

    async with Database() as db, db.transaction() as session:
        session.add(User(email="a@example.com"))
"""

from __future__ import annotations

from internal_rdbms._session import Database, transaction

__all__ = ["Database", "transaction"]
