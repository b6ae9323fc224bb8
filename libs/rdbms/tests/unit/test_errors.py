"""Translation of SQLAlchemy, driver and socket errors into the RdbmsError tree."""

from __future__ import annotations

import pickle
import socket

import pytest
from sqlalchemy import exc as sa_exc

from internal_base.errors import CommonsError
from internal_rdbms import (
    InvalidQueryError,
    QueryError,
    RdbmsConflictError,
    RdbmsError,
    RdbmsNotFoundError,
    RdbmsTimeoutError,
    RdbmsUnavailableError,
    TransactionConflictError,
    translate_error,
    translating_errors,
)


class _PgError(Exception):
    """A driver error carrying a SQLSTATE, like asyncpg's."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _wrap(kind: type[sa_exc.DBAPIError], orig: Exception, *, invalidated: bool = False) -> sa_exc.DBAPIError:
    return kind("INSERT INTO t VALUES (?)", ("secret-param",), orig, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_wrap(sa_exc.IntegrityError, Exception("UNIQUE constraint failed: t.email")), RdbmsConflictError),
        (_wrap(sa_exc.OperationalError, Exception(1213, "Deadlock found")), TransactionConflictError),
        (_wrap(sa_exc.OperationalError, Exception(1205, "Lock wait timeout")), TransactionConflictError),
        (_wrap(sa_exc.DBAPIError, _PgError("could not serialize", "40001")), TransactionConflictError),
        (_wrap(sa_exc.DBAPIError, _PgError("deadlock detected", "40P01")), TransactionConflictError),
        (_wrap(sa_exc.OperationalError, Exception(2003, "Can't connect")), RdbmsUnavailableError),
        (_wrap(sa_exc.OperationalError, Exception(2013, "Lost connection")), RdbmsUnavailableError),
        (_wrap(sa_exc.DBAPIError, _PgError("too many clients", "53300")), RdbmsUnavailableError),
        (_wrap(sa_exc.DBAPIError, _PgError("terminating connection", "57P01")), RdbmsUnavailableError),
        (_wrap(sa_exc.InterfaceError, Exception("connection is closed")), RdbmsUnavailableError),
        (_wrap(sa_exc.DBAPIError, Exception("gone"), invalidated=True), RdbmsUnavailableError),
        (_wrap(sa_exc.ProgrammingError, _PgError("syntax error", "42601")), QueryError),
        (_wrap(sa_exc.DataError, Exception(1406, "Data too long")), QueryError),
        (sa_exc.TimeoutError("QueuePool limit of size 1 overflow 0 reached"), RdbmsUnavailableError),
        (ConnectionRefusedError(111, "Connect call failed"), RdbmsUnavailableError),
        (TimeoutError(), RdbmsUnavailableError),
        (socket.gaierror(-2, "Name or service not known"), RdbmsUnavailableError),
        (sa_exc.InvalidRequestError("bad use"), QueryError),
    ],
)
def test_classification(error: BaseException, expected: type[RdbmsError]) -> None:
    """Each error maps to the expected RdbmsError subclass (exact type)."""
    assert type(translate_error(error)) is expected


def test_messages_are_redacted_and_free_of_sql() -> None:
    """Messages drop the SQL and parameters and mask DSN passwords."""
    orig = Exception("could not connect to postgresql://app:hunter2@db/app")
    translated = translate_error(_wrap(sa_exc.OperationalError, orig))
    text = str(translated)
    assert "hunter2" not in text
    assert "secret-param" not in text
    assert "INSERT INTO" not in text
    assert text.startswith("database error: Exception: could not connect to postgresql://app:***@db/app")


def test_conflicts_name_the_constraint_and_mask_mysql_values() -> None:
    """RdbmsConflictError carries the constraint name; MySQL's duplicate value is masked."""
    mysql = translate_error(
        _wrap(
            sa_exc.IntegrityError, Exception(1062, "Duplicate entry 'ann@x.io' for key 'app.uq_users_email'")
        )
    )
    assert isinstance(mysql, RdbmsConflictError)
    assert mysql.constraint == "uq_users_email"
    assert "ann@x.io" not in str(mysql)
    assert "Duplicate entry '***' for key" in str(mysql)
    cause = Exception("duplicate key value violates unique constraint")
    cause.constraint_name = "uq_users_email"  # type: ignore[attr-defined]
    orig = Exception("wrapped")
    orig.__cause__ = cause
    pg = translate_error(_wrap(sa_exc.IntegrityError, orig))
    assert isinstance(pg, RdbmsConflictError)
    assert pg.constraint == "uq_users_email"
    unnamed = translate_error(_wrap(sa_exc.IntegrityError, Exception("something odd")))
    assert isinstance(unnamed, RdbmsConflictError)
    assert unnamed.constraint is None
    copy = pickle.loads(pickle.dumps(mysql))
    assert (type(copy), copy.constraint, str(copy)) == (RdbmsConflictError, "uq_users_email", str(mysql))


def test_rdbms_errors_pass_through() -> None:
    """An RdbmsError is returned unchanged."""
    error = RdbmsConflictError("already translated")
    assert translate_error(error) is error


def test_context_manager_chains_the_original() -> None:
    """``translating_errors`` raises the translation ``from`` the original; others pass untouched."""
    original = _wrap(sa_exc.IntegrityError, Exception("duplicate key"))
    with pytest.raises(RdbmsConflictError) as info, translating_errors():
        raise original
    assert info.value.__cause__ is original
    with pytest.raises(KeyError), translating_errors():
        raise KeyError("not a database error")


def test_hierarchy() -> None:
    """The tree from the ``_errors`` docstring holds, including the stdlib mix-ins."""
    assert issubclass(RdbmsError, CommonsError)
    assert issubclass(TransactionConflictError, RdbmsConflictError)
    assert issubclass(RdbmsNotFoundError, LookupError)
    assert issubclass(RdbmsUnavailableError, ConnectionError)
    assert issubclass(RdbmsTimeoutError, TimeoutError)
    assert issubclass(InvalidQueryError, ValueError)
    assert all(
        issubclass(kind, RdbmsError)
        for kind in (
            RdbmsConflictError,
            RdbmsNotFoundError,
            RdbmsUnavailableError,
            RdbmsTimeoutError,
            InvalidQueryError,
            QueryError,
        )
    )


def test_not_found_pickles() -> None:
    """RdbmsNotFoundError survives pickling with its attributes (for process pools and task queues)."""
    error = pickle.loads(pickle.dumps(RdbmsNotFoundError("User", 42)))
    assert (error.model, error.key, str(error)) == ("User", 42, "User with primary key 42 not found")


def test_pool_timeout_is_unavailable_with_retry_after() -> None:
    """An exhausted pool is an RdbmsUnavailableError that says when to retry (a 503 with Retry-After)."""
    error = translate_error(sa_exc.TimeoutError("QueuePool limit of size 1 overflow 0 reached"))
    assert type(error) is RdbmsUnavailableError
    assert error.retry_after == 1.0
    assert str(error).startswith(
        "database unavailable: connection pool exhausted: TimeoutError: QueuePool limit"
    )


def test_other_unavailability_has_no_retry_after() -> None:
    """A refused connection does not guess when the server comes back."""
    error = translate_error(ConnectionRefusedError(111, "Connect call failed"))
    assert isinstance(error, RdbmsUnavailableError)
    assert error.retry_after is None


def test_unavailable_pickles_with_retry_after() -> None:
    """RdbmsUnavailableError survives pickling with its message and ``retry_after``."""
    error = pickle.loads(pickle.dumps(RdbmsUnavailableError("database unavailable: x", retry_after=2.5)))
    assert (type(error), str(error), error.retry_after) == (
        RdbmsUnavailableError,
        "database unavailable: x",
        2.5,
    )
