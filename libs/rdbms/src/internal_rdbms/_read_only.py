"""Read-only units of work: the session class that asks the server for READ ONLY, and its error.

PostgreSQL begins each transaction of a read-only session with ``SET TRANSACTION READ ONLY``.
MySQL/MariaDB commit implicitly before DDL, which would end a read-only transaction and let the
DDL and every later write through: there the whole connection is made read-only (``SET SESSION
TRANSACTION READ ONLY``), as SQLite's is (``PRAGMA query_only``), both undone when the connection
is reset on its way back to the pool (a connection whose reset fails is discarded, never reused).
A write, DDL included, is then refused by the server itself, on the primary as on a replica, and
comes out as :class:`RdbmsReadOnlyError`.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import Connection, event
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.pool import PoolResetState

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
    statement = _READ_ONLY_ON.get(connection.dialect.name)
    if statement is None:  # PostgreSQL: the first statement of the transaction
        connection.exec_driver_sql("SET TRANSACTION READ ONLY")
        return
    connection.info[READ_ONLY_KEY] = True  # the pool's connection record: undone on reset
    connection.exec_driver_sql(statement)


# Connection-wide read-only switches (on, off), undone by the pool's reset of the connection.
_READ_ONLY_ON: Final = {
    "sqlite": "PRAGMA query_only = ON",
    "mysql": "SET SESSION TRANSACTION READ ONLY",
    "mariadb": "SET SESSION TRANSACTION READ ONLY",
}
_READ_ONLY_OFF: Final = {
    "sqlite": "PRAGMA query_only = OFF",
    "mysql": "SET SESSION TRANSACTION READ WRITE",
    "mariadb": "SET SESSION TRANSACTION READ WRITE",
}


def _writable_on_reset(statement: str) -> Any:
    def reset(dbapi_connection: Any, record: Any, state: PoolResetState) -> None:
        if dbapi_connection is None or not record.info.get(READ_ONLY_KEY, False):
            return
        if not state.asyncio_safe:  # garbage collected: the pool terminates it, never reuses it
            return
        # An error here makes the pool invalidate the connection: a read-only one is never reused.
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(statement)
        finally:
            cursor.close()
        record.info.pop(READ_ONLY_KEY, None)

    return reset


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
    """Translate the server's read-only refusal on ``engine``; undo a connection-wide switch on reset."""
    event.listen(engine, "handle_error", _translate_refusal, retval=True)
    off = _READ_ONLY_OFF.get(engine.dialect.name)
    if off is not None:
        event.listen(engine.pool, "reset", _writable_on_reset(off))
