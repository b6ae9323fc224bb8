"""The :class:`Database` (engine, read replicas, sessions, transactions, retried units of work, health).

Example::

    from internal_rdbms.session import Database

    async with Database() as db, db.transaction() as session:
        session.add(User(email="a@example.com"))
"""

from __future__ import annotations

from internal_rdbms._read_only import RdbmsReadOnlyError
from internal_rdbms._session import Database, transaction

__all__ = ["Database", "RdbmsReadOnlyError", "transaction"]
