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

from collections.abc import AsyncIterator, Callable, Collection
from typing import Annotated, Any, Final, TypeVar

from fastapi import Depends, FastAPI, Request
from starlette.requests import ClientDisconnect

from internal_base.errors import ConfigurationError
from internal_fastapi._errors import BadRequestError, ErrorMapper, error_mapper, retry_after_header
from internal_fastapi._pagination import CursorParams, cursor_pagination
from internal_fastapi._responses import CursorPageResponse, OffsetPageResponse

try:
    from sqlalchemy.ext.asyncio import AsyncSession  # pants: no-infer-dep

    from internal_rdbms import (
        CursorPage,  # pants: no-infer-dep
        Database,  # pants: no-infer-dep
        Filter,  # pants: no-infer-dep
        InvalidQueryError,  # pants: no-infer-dep
        IsNull,  # pants: no-infer-dep
        Page,  # pants: no-infer-dep
        RdbmsConflictError,  # pants: no-infer-dep
        RdbmsError,  # pants: no-infer-dep
        TransactionConflictError,  # pants: no-infer-dep
        filter_condition,  # pants: no-infer-dep
        parse_filters,  # pants: no-infer-dep
    )
except ImportError as exc:  # pragma: no cover - the extra is in the test environment
    raise ImportError(
        f"internal_fastapi.extensions.rdbms needs internal_rdbms ({exc}); "
        "install the extra: pip install 'internal-fastapi[rdbms]'"
    ) from exc

__all__ = [
    "DatabaseDep",
    "PAGING_PARAMETERS",
    "SessionDep",
    "TransactionDep",
    "cursor_page_response",
    "filters_dependency",
    "get_database",
    "get_session",
    "get_transaction",
    "keyset_pagination",
    "offset_page_response",
    "register_rdbms_errors",
    "setup_database",
]


_STATE_KEY = "commons_database"
_MAX_NAME_SHOWN: Final = 64

PAGING_PARAMETERS: Final = frozenset(
    {"cursor", "limit", "offset", "order", "order_by", "page", "size", "sort"}
)
"""Query parameters that :func:`filters_dependency` never treats as filters."""
_T = TypeVar("_T")
_R = TypeVar("_R")


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
        RdbmsConflictError, 409, "conflict", detail="The request conflicts with data that already exists."
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

    Call it from the app's lifespan (the database is closed by its owner).
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
    When the client has disconnected by the time the route returns, the transaction is rolled back
    (``starlette.requests.ClientDisconnect``, a 499 in the access log): the client saw no answer and
    may retry, so the write must not have happened.
    """
    async with get_database(request).transaction() as session:
        yield session
        if await request.is_disconnected():
            raise ClientDisconnect


DatabaseDep = Annotated[Database, Depends(get_database)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
TransactionDep = Annotated[AsyncSession, Depends(get_transaction, scope="function")]


def keyset_pagination(
    *, default_limit: int | None = None, max_limit: int = 100
) -> Callable[..., CursorParams]:
    """Cursor query parameters for :func:`internal_rdbms.paginate_keyset` (which verifies the cursor).

    The cursor is passed through as ``params.cursor``; ``paginate_keyset`` checks its signature,
    model and sort order, and raises ``InvalidQueryError`` for a tampered or foreign one, mapped to
    a 400 ``invalid_query`` by :func:`register_rdbms_errors`. Cursors over 8192 characters are a
    400 ``invalid_cursor`` here. Keep ``max_limit`` at or below the ``max_limit`` given to
    ``paginate_keyset``.

    Pass ``codec=params.codec`` to ``paginate_keyset`` / ``Repository.keyset`` to bind the cursors
    to this route, its path parameters and its query (filters, order) as well: signed with
    ``FastAPISettings.cursor_secret`` instead of the database's ``cursor_secret``. Without it they
    are bound to the model and sort order only, and another route over the same model and order
    accepts them.

    Example::

        page_params = keyset_pagination(max_limit=50)

        @app.get("/articles")
        async def articles(session: SessionDep, page: Annotated[CursorParams, Depends(page_params)]):
            rows = await Repository(session, Article).keyset(
                order_by="-views", limit=page.limit, cursor=page.cursor, codec=page.codec
            )
            return cursor_page_response(rows, to_out)
    """
    return cursor_pagination(default_limit=default_limit, max_limit=max_limit, raw=True)


def offset_page_response(page: Page[_R], item: Callable[[_R], _T]) -> OffsetPageResponse[_T]:
    """Turn an ``internal_rdbms`` :class:`~internal_rdbms.Page` into an :class:`OffsetPageResponse`."""
    return OffsetPageResponse[_T](
        items=[item(row) for row in page.items],
        limit=page.limit,
        offset=page.offset,
        total=page.total,
        next_offset=page.next_offset,
    )


def cursor_page_response(page: CursorPage[_R], item: Callable[[_R], _T]) -> CursorPageResponse[_T]:
    """Turn an ``internal_rdbms`` :class:`~internal_rdbms.CursorPage` into a :class:`CursorPageResponse`."""
    return CursorPageResponse[_T](
        items=[item(row) for row in page.items], limit=page.limit, next_cursor=page.next_cursor
    )


def _checked_names(names: Collection[str], what: str) -> frozenset[str]:
    if isinstance(names, str):
        raise ConfigurationError(f"{what} must be a collection of names, not a string")
    return frozenset(names)


def _shown(name: str) -> str:
    return repr(name if len(name) <= _MAX_NAME_SHOWN else name[:_MAX_NAME_SHOWN] + "...")


def filters_dependency(
    model: type[Any], *, allowed: Collection[str], exclude: Collection[str] = ()
) -> Callable[[Request], list[Filter]]:
    """A dependency returning the request's filter parameters, parsed for ``Repository.list(*filters)``.

    Every query parameter except the paging ones (:data:`PAGING_PARAMETERS`: ``limit``, ``cursor``,
    ``order``, ``offset``, ``page`` ...) and ``exclude`` is a filter in
    :func:`internal_rdbms.parse_filters` syntax (``status=active``, ``age__ge=18``,
    ``id__in=1,2,3``, ``name__contains=ann``, ``deleted_at__isnull=true``). Each is checked against
    ``model`` before the route runs: a field outside ``allowed``, an unknown operator, a value the
    column cannot hold, or a parameter given twice is a 400 ``invalid_query`` problem naming the
    parameter.

    Args:
        model: The mapped class the filters apply to.
        allowed: The fields clients may filter by (required: filters come from user input, and a
            default of every column would let anyone probe e.g. a password hash).
        exclude: More query parameters that are not filters (the route's own, e.g. ``q``).

    Raises:
        ConfigurationError: ``allowed`` is empty, a string, or names a field ``model`` does not have.

    Example::

        article_filters = filters_dependency(Article, allowed={"status", "views", "author_id"})

        @app.get("/articles")
        async def articles(
            session: SessionDep, filters: Annotated[list[Filter], Depends(article_filters)]
        ) -> list[ArticleOut]:
            return [to_out(a) for a in await Repository(session, Article).list(*filters, limit=50)]
    """
    fields = _checked_names(allowed, "allowed")
    if not fields:
        raise ConfigurationError("allowed must name at least one field")
    for field in sorted(fields):
        try:
            filter_condition(model, IsNull(field, is_null=True))
        except InvalidQueryError as exc:
            raise ConfigurationError(
                f"allowed names a field {model.__name__} cannot filter by: {exc}"
            ) from exc
    skipped = PAGING_PARAMETERS | _checked_names(exclude, "exclude")

    def dependency(request: Request) -> list[Filter]:
        params: dict[str, str] = {}
        for name, value in request.query_params.multi_items():
            if name in skipped:
                continue
            if name in params:
                raise BadRequestError(
                    f"query parameter {_shown(name)} is given more than once; "
                    "use the __in operator for several values",
                    code="invalid_query",
                )
            params[name] = value
        try:
            filters = parse_filters(params)
            for flt in filters:
                filter_condition(model, flt, allowed=fields)
        except InvalidQueryError as exc:
            raise BadRequestError(str(exc), code="invalid_query") from exc
        return filters

    dependency.__name__ = f"{model.__name__.lower()}_filters"
    return dependency
