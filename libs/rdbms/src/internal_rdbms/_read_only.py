"""Read-only units of work: the session class that asks the server for READ ONLY, and its error.

PostgreSQL and MySQL/MariaDB begin each transaction of a read-only session with ``SET TRANSACTION
READ ONLY``; SQLite sets ``PRAGMA query_only`` on the connection for the transaction (reset when
the connection goes back to the pool). A write is then refused by the server itself, on the
primary as on a replica, and comes out as :class:`RdbmsReadOnlyError`.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import Connection, event
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.orm import Session, SessionTransaction

from internal_rdbms._errors import QueryError, _describe

__all__ = ["READ_ONLY_KEY", "RdbmsReadOnlyError", "ReadOnlySession", "install_read_only_support"]

#: ``Session.info`` key marking a read-only session (also set on an SQLite connection made query_only).
READ_ONLY_KEY: Final = "internal_rdbms.read_only"

_PG_READ_ONLY: Final = "25006"  # read_only_sql_transaction (also a write on a hot standby)
_MYSQL_READ_ONLY: Final = 1792  # ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
_MYSQL_OPTION_PREVENTS: Final = 1290  # ER_OPTION_PREVENTS_STATEMENT (--read-only server)


class RdbmsReadOnlyError(QueryError):
    """A statement tried to write in a read-only unit of work (``read_only=True``) or on a replica.

    Open the work with ``db.transaction()`` (without ``read_only``) to write; writes always go to
    the primary.
    """


class ReadOnlySession(Session):
    """The sync session class behind ``Database.session(read_only=True)``."""


@event.listens_for(ReadOnlySession, "after_begin")
def _begin_read_only(_session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    dialect = connection.dialect.name
    if dialect == "sqlite":
        connection.exec_driver_sql("PRAGMA query_only = ON")
        connection.info[READ_ONLY_KEY] = True  # the pool's connection record: reset on return
    else:  # PostgreSQL: first statement of the transaction; MySQL: applies to the one starting now
        connection.exec_driver_sql("SET TRANSACTION READ ONLY")


def _sqlite_writable(dbapi_connection: Any, record: Any) -> None:
    if dbapi_connection is None or not record.info.pop(READ_ONLY_KEY, False):
        return
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA query_only = OFF")
    finally:
        cursor.close()


def _is_read_only_refusal(orig: BaseException | None) -> bool:
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state == _PG_READ_ONLY:
        return True
    args = getattr(orig, "args", ())
    code = args[0] if args and isinstance(args[0], int) else None
    text = str(orig).lower()
    if code == _MYSQL_READ_ONLY:
        return True
    if code == _MYSQL_OPTION_PREVENTS and ("read-only" in text or "read_only" in text):
        return True
    return "attempt to write a readonly database" in text  # SQLite (query_only, read-only file)


def _translate_refusal(context: ExceptionContext) -> BaseException | None:
    orig = context.original_exception
    if not _is_read_only_refusal(orig):
        return None
    error = RdbmsReadOnlyError(
        "write refused in a read-only unit of work (read_only=True, or a replica); open the work with "
        f"db.transaction() to write: {_describe(context.sqlalchemy_exception or orig)}"
    )
    return error


def install_read_only_support(engine: Engine) -> None:
    """Translate the server's read-only refusal on ``engine``; on SQLite, reset ``query_only`` on return."""
    event.listen(engine, "handle_error", _translate_refusal, retval=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine.pool, "checkin", _sqlite_writable)
