"""FastAPI integration of ``internal_rdbms``: session dependencies, error mapping, page responses.

Needs the ``internal-fastapi[rdbms]`` extra. The package root never imports this module. (Its imports
of the extra carry ``pants: no-infer-dep`` so that the wheel does not hard-require them.)

Example::

    from contextlib import asynccontextmanager
    from internal_rdbms import Database
    from internal_fastapi.extensions.rdbms import SessionDep, setup_database

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with Database("postgresql://app@db/app") as db:
            setup_database(app, db)
            yield

    @app.get("/users/{user_id}")
    async def get_user(user_id: int, session: SessionDep) -> UserOut: ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, FastAPI, Request

from internal_base.errors import ConfigurationError
from internal_fastapi._errors import ErrorMapper, error_mapper, retry_after_header
from internal_fastapi._pagination import CursorParams, cursor_pagination
from internal_fastapi._responses import CursorPageResponse, OffsetPageResponse

try:
    from sqlalchemy.ext.asyncio import AsyncSession  # pants: no-infer-dep

    from internal_rdbms import (
        ConflictError,  # pants: no-infer-dep
        CursorPage,  # pants: no-infer-dep
        Database,  # pants: no-infer-dep
        InvalidQueryError,  # pants: no-infer-dep
        Page,  # pants: no-infer-dep
        RdbmsError,  # pants: no-infer-dep
        TransactionConflictError,  # pants: no-infer-dep
    )
except ImportError as exc:  # pragma: no cover - the extra is in the test environment
    raise ImportError(
        f"internal_fastapi.extensions.rdbms needs internal_rdbms ({exc}); "
        "install the extra: pip install 'internal-fastapi[rdbms]'"
    ) from exc

__all__ = [
    "DatabaseDep",
    "SessionDep",
    "TransactionDep",
    "cursor_page_response",
    "get_database",
    "get_session",
    "get_transaction",
    "keyset_pagination",
    "offset_page_response",
    "register_rdbms_errors",
    "setup_database",
]

_STATE_KEY = "commons_database"
T = TypeVar("T")
R = TypeVar("R")


def register_rdbms_errors(mapper: ErrorMapper) -> None:
    """Map ``internal_rdbms`` errors: not found → 404, conflicts → 409, invalid query → 400, down → 503.

    Matched by base class where the family fixes one (not found is a ``LookupError``, unreachable
    a ``ConnectionError``, with ``Retry-After`` when the error carries ``retry_after``). Conflict and
    database errors get fixed texts: driver messages can quote row values.
    """
    mapper.register(RdbmsError, 500, "database_error")
    mapper.register(LookupError, 404, "not_found", expose=True, within=RdbmsError)
    mapper.register(InvalidQueryError, 400, "invalid_query", expose=True)
    mapper.register(
        ConflictError, 409, "conflict", detail="The request conflicts with data that already exists."
    )
    mapper.register(
        TransactionConflictError,
        409,
        "transaction_conflict",
        detail="A concurrent update got in the way; retry the request.",
    )
    mapper.register(
        ConnectionError,
        503,
        "database_unavailable",
        detail="The database is temporarily unavailable; retry later.",
        headers=retry_after_header,
        within=RdbmsError,
    )


def setup_database(app: FastAPI, database: Database, *, mapper: ErrorMapper | None = None) -> None:
    """Make ``database`` available to the dependencies below and register the error mapping.

    Call it from the app's lifespan (the database is disposed of by its owner).
    """
    app.state.commons_database = database
    register_rdbms_errors(mapper if mapper is not None else error_mapper(app))


def get_database(request: Request) -> Database:
    """Dependency: the :class:`Database` given to :func:`setup_database`.

    Raises:
        ConfigurationError: ``setup_database`` was not called.
    """
    database = getattr(request.app.state, _STATE_KEY, None)
    if not isinstance(database, Database):
        raise ConfigurationError("no database: call internal_fastapi.extensions.rdbms.setup_database()")
    return database


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Dependency: a session closed when the route returns (commit yourself)."""
    async with get_database(request).session() as session:
        yield session


async def get_transaction(request: Request) -> AsyncIterator[AsyncSession]:
    """Dependency: a session in a transaction, committed when the route returns, rolled back if it raises.

    The commit happens before the response is sent, so a failed commit is the client's error response.
    """
    async with get_database(request).transaction() as session:
        yield session


DatabaseDep = Annotated[Database, Depends(get_database)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
TransactionDep = Annotated[AsyncSession, Depends(get_transaction, scope="function")]


def keyset_pagination(
    *, default_limit: int | None = None, max_limit: int = 100
) -> Callable[..., CursorParams]:
    """Cursor query parameters for :func:`internal_rdbms.paginate_keyset` (which verifies the cursor).

    The cursor is passed through as ``params.cursor``; ``paginate_keyset`` checks its signature
    (``DatabaseSettings.cursor_secret``), model and sort order, and raises ``InvalidQueryError``
    for a tampered or foreign one, mapped to a 400 ``invalid_query`` by
    :func:`register_rdbms_errors`. Cursors over 8192 characters are a 400 ``invalid_cursor`` here.
    Keep ``max_limit`` at or below the ``max_limit`` given to ``paginate_keyset``.
    """
    return cursor_pagination(default_limit=default_limit, max_limit=max_limit, raw=True)


def offset_page_response(page: Page[R], item: Callable[[R], T]) -> OffsetPageResponse[T]:
    """Turn an ``internal_rdbms`` :class:`~internal_rdbms.Page` into an :class:`OffsetPageResponse`."""
    return OffsetPageResponse[T](
        items=[item(row) for row in page.items],
        limit=page.limit,
        offset=page.offset,
        total=page.total,
        next_offset=page.next_offset,
    )


def cursor_page_response(page: CursorPage[R], item: Callable[[R], T]) -> CursorPageResponse[T]:
    """Turn an ``internal_rdbms`` :class:`~internal_rdbms.CursorPage` into a :class:`CursorPageResponse`."""
    return CursorPageResponse[T](
        items=[item(row) for row in page.items], limit=page.limit, next_cursor=page.next_cursor
    )
