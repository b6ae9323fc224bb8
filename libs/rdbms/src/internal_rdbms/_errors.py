"""Exceptions of ``internal_rdbms`` and the translation of SQLAlchemy/driver errors into them.

Hierarchy::

    CommonsError                            (internal_base.errors)
    └── RdbmsError                          every error raised by this library
        ├── RdbmsConflictError              integrity violation: unique, foreign key, not null, check
        │   │                               (``.constraint``: the constraint name when known)
        │   └── TransactionConflictError    deadlock, lock wait timeout, serialization failure
        │                                   (retried by ``Database.run``)
        ├── RdbmsNotFoundError              no row with the given primary key
        │   (LookupError)
        ├── RdbmsUnavailableError           cannot connect, connection lost, pool exhausted, circuit
        │   (ConnectionError)               open (``.retry_after``: seconds, when known; retried by
        │                                   ``Database.run``)
        ├── RdbmsTimeoutError               a ``Database.run`` attempt overran
        │   (TimeoutError)                  ``settings.resilience.timeout`` (never retried)
        ├── InvalidQueryError (ValueError)  bad filter/order field, operator, value or cursor (also
        │                                   MySQL's "Illegal mix of collations" for an unstorable value)
        └── QueryError                      any other database error (syntax, data, programming)

Settings errors are :class:`internal_base.errors.ConfigurationError`. Every message goes through
:func:`internal_base.redaction.redact_text`, and engines hide bound parameters, so neither a password
nor a row value ends up in a message (MySQL's ``Duplicate entry '...'`` value is masked too).
The original exception stays reachable as ``__cause__``.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterator
from typing import Any, Final

from sqlalchemy import exc as sa_exc

from internal_base.errors import CommonsError
from internal_base.redaction import redact_text

__all__ = [
    "InvalidQueryError",
    "QueryError",
    "RdbmsConflictError",
    "RdbmsError",
    "RdbmsNotFoundError",
    "RdbmsTimeoutError",
    "RdbmsUnavailableError",
    "TransactionConflictError",
    "translate_error",
    "translating_errors",
]

# SQLSTATE classes/codes (PostgreSQL, also reported by other servers).
_CONNECTION_SQLSTATE_PREFIXES: Final = ("08", "53", "57P")  # connection, resources, operator intervention
_CONFLICT_SQLSTATES: Final = frozenset({"40001", "40P01", "55P03"})  # serialization, deadlock, lock n/a
# MySQL/MariaDB client and server error codes.
_MYSQL_UNAVAILABLE: Final = frozenset(
    {1040, 1042, 1043, 1053, 1927, 2002, 2003, 2005, 2006, 2013, 2014, 2055}
)
_MYSQL_CONFLICT: Final = frozenset({1205, 1213})  # lock wait timeout, deadlock
# CHECK constraint violations, reported as OperationalError: MariaDB 4025, MySQL 8 3819.
_MYSQL_CHECK_VIOLATIONS: Final = frozenset({3819, 4025})
# "Illegal mix of collations": a value with characters the column's character set cannot hold.
_MYSQL_UNREPRESENTABLE: Final = frozenset({1267, 1270, 1271})
#: ``retry_after`` (seconds) of the error raised when the pool had no free connection in time.
_POOL_RETRY_AFTER: Final = 1.0
# Raised unwrapped by some drivers while connecting (asyncpg: ConnectionRefusedError, DNS errors).
_NETWORK_ERRORS: Final = (sa_exc.TimeoutError, ConnectionError, TimeoutError, socket.gaierror)


class RdbmsError(CommonsError):
    """Root of every error raised by ``internal_rdbms``."""


class RdbmsConflictError(RdbmsError):
    """The statement violates an integrity constraint (unique, foreign key, not null, check).

    Attributes:
        constraint: Name of the violated constraint when the driver reports it (e.g.
            ``uq_users_email``; ``users.email`` on SQLite), else ``None``.
    """

    def __init__(self, message: str, constraint: str | None = None) -> None:
        self.constraint = constraint
        super().__init__(message)

    def __reduce__(self) -> tuple[type[RdbmsConflictError], tuple[str, str | None]]:
        return (type(self), (str(self), self.constraint))


class TransactionConflictError(RdbmsConflictError):
    """The transaction lost a race: deadlock, lock wait timeout or serialization failure; retry it."""


class RdbmsNotFoundError(RdbmsError, LookupError):
    """No row matches the given primary key.

    Attributes:
        model: Name of the mapped class.
        key: The primary key that was looked up.
    """

    def __init__(self, model: str, key: object) -> None:
        self.model = model
        self.key = key
        super().__init__(f"{model} with primary key {key!r} not found")

    def __reduce__(self) -> tuple[type[RdbmsNotFoundError], tuple[str, object]]:
        return (type(self), (self.model, self.key))


class RdbmsUnavailableError(RdbmsError, ConnectionError):
    """The database cannot be reached, dropped the connection, the pool had no free connection, or
    the circuit breaker of ``Database.run`` is open.

    Attributes:
        retry_after: Seconds after which a retry may succeed, when known (an exhausted pool, an open
            breaker's remaining reset time), else ``None``.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = None if retry_after is None else max(0.0, retry_after)
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_unavailable, (type(self), str(self), self.retry_after))


def _rebuild_unavailable(
    kind: type[RdbmsUnavailableError], message: str, retry_after: float | None
) -> RdbmsUnavailableError:
    return kind(message, retry_after=retry_after)


class RdbmsTimeoutError(RdbmsError, TimeoutError):
    """An attempt of :meth:`Database.run` overran ``settings.resilience.timeout`` (rolled back)."""


class InvalidQueryError(RdbmsError, ValueError):
    """A filter, order, page size or cursor is invalid; the message names the offending field."""


class QueryError(RdbmsError):
    """Any other database error (syntax, data, programming errors)."""


def _sqlstate(orig: BaseException | None) -> str | None:
    value = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return value if isinstance(value, str) else None


def _mysql_code(orig: BaseException | None) -> int | None:
    args = getattr(orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


_MYSQL_KEY: Final = re.compile(r"for key '([^']+)'")
_SQLITE_KEY: Final = re.compile(r"constraint failed: ([\w.]+)")
# MariaDB "CONSTRAINT `ck_x` failed for ...", MySQL 8 "Check constraint 'ck_x' is violated."
_MYSQL_CHECK: Final = re.compile(r"CONSTRAINT `([^`]+)` failed|[Cc]heck constraint '([^']+)' is violated")
# Row values quoted in MySQL/MariaDB messages ("Duplicate entry 'ann@example.com' for key ...").
_MYSQL_ENTRY: Final = re.compile(r"(Duplicate entry )'.*?'( for key)")


def _constraint(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None)):
        name = getattr(candidate, "constraint_name", None)
        if isinstance(name, str) and name:
            return name
    text = str(orig)
    if match := _MYSQL_KEY.search(text):
        return match.group(1).rsplit(".", 1)[-1]  # MySQL 8 prefixes the table name
    if match := _SQLITE_KEY.search(text):
        return match.group(1)
    if match := _MYSQL_CHECK.search(text):
        return match.group(1) or match.group(2)
    return None


def _describe(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    source = orig if isinstance(orig, BaseException) else exc
    text = str(source).split("\n(Background on this error", 1)[0].strip()
    # Drop the "[SQL: ...]" part SQLAlchemy appends: statements can be long and are logged elsewhere.
    text = text.split("\n[SQL:", 1)[0].strip()
    text = _MYSQL_ENTRY.sub(r"\1'***'\2", text)
    name = type(source).__name__
    return redact_text(f"{name}: {text}" if text else name)


def _classify(exc: BaseException) -> type[RdbmsError]:
    if isinstance(exc, _NETWORK_ERRORS):
        return RdbmsUnavailableError  # pool timeout, refused/reset connection, connect timeout
    if not isinstance(exc, sa_exc.DBAPIError):
        return QueryError
    if exc.connection_invalidated:
        return RdbmsUnavailableError
    orig = exc.orig
    state, code = _sqlstate(orig), _mysql_code(orig)
    if (state is not None and state in _CONFLICT_SQLSTATES) or code in _MYSQL_CONFLICT:
        return TransactionConflictError
    if isinstance(exc, sa_exc.IntegrityError) or code in _MYSQL_CHECK_VIOLATIONS:
        return RdbmsConflictError
    if code in _MYSQL_UNREPRESENTABLE:
        return InvalidQueryError
    if state is not None and state.startswith(_CONNECTION_SQLSTATE_PREFIXES):
        return RdbmsUnavailableError
    if code in _MYSQL_UNAVAILABLE:
        return RdbmsUnavailableError
    if isinstance(exc, sa_exc.OperationalError) and "unable to open database file" in str(orig):
        return RdbmsUnavailableError  # SQLite
    if isinstance(exc, sa_exc.InterfaceError) and "closed" in str(orig).lower():
        return RdbmsUnavailableError
    return QueryError


def translate_error(exc: BaseException) -> RdbmsError:
    """Map a SQLAlchemy, driver or socket error to the matching :class:`RdbmsError`.

    An :class:`RdbmsError` is returned unchanged. The caller raises the result ``from exc``.

    Args:
        exc: The exception caught at the library boundary.

    Returns:
        A new exception whose message is redacted and free of SQL parameters.
    """
    if isinstance(exc, RdbmsError):
        return exc
    kind = _classify(exc)
    prefix = {
        RdbmsConflictError: "integrity constraint violated",
        TransactionConflictError: "transaction conflict",
        RdbmsUnavailableError: "database unavailable",
        InvalidQueryError: "a value has characters the column's character set cannot store",
        QueryError: "database error",
    }.get(kind, "database error")
    message = f"{prefix}: {_describe(exc)}"
    if issubclass(kind, RdbmsConflictError):
        return kind(message, constraint=_constraint(exc))
    if isinstance(exc, sa_exc.TimeoutError):  # every pooled connection stayed busy for pool_timeout
        return RdbmsUnavailableError(
            f"{prefix}: connection pool exhausted: {_describe(exc)}", retry_after=_POOL_RETRY_AFTER
        )
    return kind(message)


_TRANSLATED: Final = (sa_exc.SQLAlchemyError, *_NETWORK_ERRORS)


@contextlib.contextmanager
def translating_errors() -> Iterator[None]:
    """Re-raise SQLAlchemy/driver/socket errors as :class:`RdbmsError` (a plain ``with``, fine around awaits).

    Raises:
        RdbmsError: The translated error, chained to the original.
    """
    try:
        yield
    except _TRANSLATED as exc:
        raise translate_error(exc) from exc
