"""Generic async repository over one mapped class."""

from __future__ import annotations

import builtins
import weakref
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Generic, Literal, TypeVar, overload

from sqlalchemy import Select, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from internal_base.cursor import CursorCodec
from internal_rdbms import _bulk
from internal_rdbms._base import SoftDeleteMixin, utcnow
from internal_rdbms._cursor import backend_of
from internal_rdbms._errors import InvalidQueryError, RdbmsNotFoundError, translating_errors
from internal_rdbms._filters import Eq, Filter, OrderBy, apply_filters, apply_order, parse_order
from internal_rdbms._pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    CursorPage,
    Page,
    paginate_keyset,
    paginate_offset,
)
from internal_rdbms._values import storable

__all__ = ["Repository"]

ModelT = TypeVar("ModelT")
# Per mapped class: (soft-delete model?, column attribute names, primary key attribute names, key columns).
_Facts = tuple[bool, frozenset[str], frozenset[str], tuple[Any, ...]]
_MODEL_FACTS: weakref.WeakKeyDictionary[type[Any], _Facts] = weakref.WeakKeyDictionary()
OrderSpec = str | Iterable[str | OrderBy] | None


class Repository(Generic[ModelT]):
    """Typed CRUD, filtering and pagination for one mapped class, on a caller-owned session.

    The repository flushes (so keys and constraint errors show up at once) but never commits:
    wrap the work in :meth:`Database.transaction`. Errors come out translated
    (:class:`RdbmsConflictError`, :class:`RdbmsNotFoundError`, :class:`RdbmsUnavailableError`,
    :class:`InvalidQueryError`). For models with :class:`SoftDeleteMixin`, soft-deleted rows are
    hidden unless ``include_deleted=True``, and :meth:`delete` soft-deletes unless ``hard=True``.

    Either pass the model (``Repository(session, User)``) or subclass with ``model = User``.
    ``filterable`` / ``sortable`` restrict the fields callers may filter and sort by (all column
    attributes by default); set them when filters come from user input.

    Args:
        session: The session to work in.
        model: The mapped class (optional when the subclass sets ``model``).
        filterable: Allow-list of filter fields (overrides the class attribute).
        sortable: Allow-list of sort fields (overrides the class attribute).
    """

    model: type[ModelT]
    filterable: ClassVar[frozenset[str] | None] = None
    sortable: ClassVar[frozenset[str] | None] = None
    max_limit: ClassVar[int] = MAX_PAGE_SIZE

    def __init__(
        self,
        session: AsyncSession,
        model: type[ModelT] | None = None,
        *,
        filterable: Collection[str] | None = None,
        sortable: Collection[str] | None = None,
    ) -> None:
        if model is not None:
            self.model = model
        elif getattr(self, "model", None) is None:
            raise TypeError(f"{type(self).__name__} needs a model: pass one or set the class attribute")
        self.session = session
        self._filterable = frozenset(filterable) if filterable is not None else type(self).filterable
        self._sortable = frozenset(sortable) if sortable is not None else type(self).sortable
        facts = _MODEL_FACTS.get(self.model)
        if facts is None:
            mapper = inspect(self.model)
            facts = _MODEL_FACTS[self.model] = (
                issubclass(self.model, SoftDeleteMixin),
                frozenset(attr.key for attr in mapper.column_attrs),
                frozenset(mapper.get_property_by_column(col).key for col in mapper.primary_key),
                tuple(mapper.primary_key),
            )
        self._soft_delete, self._columns, self._primary_key, self._key_columns = facts

    def __repr__(self) -> str:
        """``Repository(User)``."""
        return f"{type(self).__name__}({self.model.__name__})"

    # -- queries ---------------------------------------------------------------------------

    def select(self, *filters: Filter, include_deleted: bool = False, **equals: object) -> Select[Any]:
        """``select(model)`` with filters (validated) and the soft-delete rule applied, for custom queries."""
        statement: Select[Any] = select(self.model)
        if self._soft_delete and not include_deleted:
            statement = statement.where(self.model.deleted_at.is_(None))  # type: ignore[attr-defined]
        every = [*filters, *(Eq(name, value) for name, value in equals.items())]
        backend = backend_of(self.session)
        return apply_filters(statement, self.model, every, allowed=self._filterable, backend=backend)

    async def get(self, pk: object, *, include_deleted: bool = False) -> ModelT:
        """The row with primary key ``pk`` (a tuple for composite keys).

        Raises:
            RdbmsNotFoundError: No such row (or it is soft-deleted).
        """
        found = await self.get_or_none(pk, include_deleted=include_deleted)
        if found is None:
            raise RdbmsNotFoundError(self.model.__name__, pk)
        return found

    async def get_or_none(self, pk: object, *, include_deleted: bool = False) -> ModelT | None:
        """The row with primary key ``pk``, or ``None``."""
        parts = pk if isinstance(pk, tuple) else (pk,)
        backend = backend_of(self.session)
        key_columns = self._key_columns
        if len(parts) == len(key_columns) and any(
            storable(column.type, part, backend)[1] is not None
            for column, part in zip(key_columns, parts, strict=True)
        ):
            return None  # no row can hold this key; drivers would fail on it (overflow, NUL ...)
        with translating_errors():
            found = await self.session.get(self.model, pk)
        if found is not None and self._soft_delete and not include_deleted and found.deleted_at is not None:  # type: ignore[attr-defined]
            return None
        return found

    async def first(
        self,
        *filters: Filter,
        order_by: OrderSpec = None,
        include_deleted: bool = False,
        **equals: object,
    ) -> ModelT | None:
        """The first matching row in ``order_by`` order (then primary key), or ``None``."""
        statement = self.select(*filters, include_deleted=include_deleted, **equals)
        statement = apply_order(statement, self.model, parse_order(order_by), allowed=self._sortable)
        with translating_errors():
            found: ModelT | None = (await self.session.scalars(statement.limit(1))).first()
        return found

    async def list(
        self,
        *filters: Filter,
        order_by: OrderSpec = None,
        limit: int | None = None,
        offset: int = 0,
        include_deleted: bool = False,
        **equals: object,
    ) -> builtins.list[ModelT]:
        """Matching rows, ordered by ``order_by`` (e.g. ``"-created_at,name"``) then primary key.

        Args:
            *filters: Filter objects (``Eq``, ``In``, ``Range``, ``Search``, ...), combined with AND.
            order_by: Sort spec; the primary key is always the final tiebreaker.
            limit: Maximum rows (1..``max_limit``); ``None`` for all.
            offset: Rows to skip.
            include_deleted: Also return soft-deleted rows.
            **equals: Shorthand equality filters, ``status="active"``.

        Raises:
            InvalidQueryError: Unknown or not allowed field, bad value, limit or offset.
        """
        statement = self.select(*filters, include_deleted=include_deleted, **equals)
        statement = apply_order(statement, self.model, parse_order(order_by), allowed=self._sortable)
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= self.max_limit:
                raise InvalidQueryError(f"'limit' must be an integer between 1 and {self.max_limit}")
            statement = statement.limit(limit)
        if offset:
            if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset < 2**63:
                raise InvalidQueryError("'offset' must be a non-negative integer below 2**63")
            statement = statement.offset(offset)
        with translating_errors():
            rows: builtins.list[ModelT] = builtins.list((await self.session.scalars(statement)).all())
        return rows

    async def count(self, *filters: Filter, include_deleted: bool = False, **equals: object) -> int:
        """Number of matching rows."""
        inner = self.select(*filters, include_deleted=include_deleted, **equals).subquery()
        with translating_errors():
            return int((await self.session.execute(select(func.count()).select_from(inner))).scalar_one())

    async def exists(self, *filters: Filter, include_deleted: bool = False, **equals: object) -> bool:
        """Whether at least one row matches."""
        statement = self.select(*filters, include_deleted=include_deleted, **equals)
        with translating_errors():
            return bool((await self.session.execute(select(statement.exists()))).scalar())

    async def page(
        self,
        *filters: Filter,
        order_by: OrderSpec = None,
        limit: int = DEFAULT_PAGE_SIZE,
        offset: int = 0,
        with_total: bool = True,
        include_deleted: bool = False,
        **equals: object,
    ) -> Page[ModelT]:
        """One offset page (``LIMIT``/``OFFSET``) with the total count; see :func:`paginate_offset`."""
        statement = self.select(*filters, include_deleted=include_deleted, **equals)
        with translating_errors():
            return await paginate_offset(
                self.session,
                self.model,
                statement,
                order=parse_order(order_by),
                limit=limit,
                offset=offset,
                with_total=with_total,
                allowed_order=self._sortable,
                max_limit=self.max_limit,
            )

    async def keyset(
        self,
        *filters: Filter,
        order_by: OrderSpec = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        include_deleted: bool = False,
        codec: CursorCodec | None = None,
        **equals: object,
    ) -> CursorPage[ModelT]:
        """One keyset page after ``cursor``; see :func:`paginate_keyset`. Keep filters and order stable.

        ``codec`` signs the cursors (default: the session's, from ``RdbmsSettings.cursor_secret``).
        """
        statement = self.select(*filters, include_deleted=include_deleted, **equals)
        with translating_errors():
            return await paginate_keyset(
                self.session,
                self.model,
                statement,
                order=parse_order(order_by),
                limit=limit,
                cursor=cursor,
                allowed_order=self._sortable,
                max_limit=self.max_limit,
                codec=codec,
            )

    # -- writes ----------------------------------------------------------------------------

    async def add(self, obj: ModelT) -> ModelT:
        """Add ``obj`` and flush (defaults and generated keys are filled in).

        Raises:
            RdbmsConflictError: A unique or other integrity constraint is violated.
        """
        with translating_errors():
            self.session.add(obj)
            await self.session.flush()
        return obj

    async def add_many(self, objs: Iterable[ModelT]) -> builtins.list[ModelT]:
        """Add every object and flush once (batched inserts where the backend allows).

        Raises:
            RdbmsConflictError: A constraint is violated; nothing of the batch is kept in the transaction.
        """
        items = builtins.list(objs)
        with translating_errors():
            self.session.add_all(items)
            await self.session.flush()
        return items

    async def update(self, target: ModelT | object, **values: object) -> ModelT:
        """Set column attributes on ``target`` (an instance or a primary key) and flush.

        Raises:
            RdbmsNotFoundError: ``target`` is a key with no row.
            InvalidQueryError: A name is not a column or is part of the primary key.
            RdbmsConflictError: The new values violate a constraint.
        """
        for name in values:
            if name not in self._columns or name in self._primary_key:
                raise InvalidQueryError(
                    f"cannot update field {name!r} of {self.model.__name__}: "
                    "not a column" + (" (primary key)" if name in self._primary_key else "")
                )
        obj = await self._resolve(target)
        for name, value in values.items():
            setattr(obj, name, value)
        with translating_errors():
            await self.session.flush()
        return obj

    async def delete(self, target: ModelT | object, *, hard: bool = False) -> None:
        """Delete ``target`` (an instance or a primary key); soft-delete for soft-delete models.

        Args:
            target: The instance or its primary key.
            hard: Remove the row even when the model supports soft deletion.

        Raises:
            RdbmsNotFoundError: ``target`` is a key with no (live) row.
        """
        obj = await self._resolve(target, include_deleted=hard)
        with translating_errors():
            if self._soft_delete and not hard:
                obj.deleted_at = utcnow()  # type: ignore[attr-defined]
                await self.session.flush()
            else:
                await self.session.delete(obj)
                await self.session.flush()

    async def restore(self, target: ModelT | object) -> ModelT:
        """Undo a soft delete of ``target`` (an instance or a primary key).

        Raises:
            InvalidQueryError: The model does not support soft deletion.
            RdbmsNotFoundError: No row with that key.
        """
        if not self._soft_delete:
            raise InvalidQueryError(f"{self.model.__name__} does not support soft deletion")
        obj = await self._resolve(target, include_deleted=True)
        obj.deleted_at = None  # type: ignore[attr-defined]
        with translating_errors():
            await self.session.flush()
        return obj

    # -- bulk writes -----------------------------------------------------------------------

    async def insert_many(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        chunk_size: int = _bulk.DEFAULT_CHUNK,
        method: _bulk.InsertMethod = "auto",
    ) -> int:
        """Insert many rows fast (no ORM objects): Core ``INSERT`` executemany per chunk, COPY on PostgreSQL.

        Rows are mappings of field names to values, all naming the same fields; Python-side column
        defaults fill the others (server defaults too, except with COPY). ``method="auto"`` uses
        PostgreSQL's binary ``COPY`` (asyncpg) from ``COPY_THRESHOLD`` rows, executemany
        otherwise (and when a left-out column has a SQL-expression default, which COPY cannot
        evaluate); ``"copy"`` forces it (PostgreSQL only). Runs in the session's transaction.

        Returns:
            The number of rows inserted.

        Raises:
            InvalidQueryError: Not mappings, unknown field, rows naming different fields.
            RdbmsConflictError: A constraint is violated (nothing of the batch is kept by the
                statement; roll the transaction back).
        """
        await self._flush()
        return await _bulk.insert_many(
            self.session, inspect(self.model), rows, chunk_size=chunk_size, method=method
        )

    @overload
    async def upsert_many(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        key: Sequence[str] | str | None = ...,
        update: Sequence[str] | None = ...,
        returning: Literal[False] = ...,
    ) -> int: ...

    @overload
    async def upsert_many(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        key: Sequence[str] | str | None = ...,
        update: Sequence[str] | None = ...,
        returning: Literal[True],
    ) -> builtins.list[ModelT]: ...

    async def upsert_many(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        key: Sequence[str] | str | None = None,
        update: Sequence[str] | None = None,
        returning: bool = False,
    ) -> int | builtins.list[ModelT]:
        """Insert rows; where ``key`` already exists, update that row instead (one native statement).

        PostgreSQL and SQLite: ``INSERT ... ON CONFLICT (key) DO UPDATE``; MariaDB:
        ``INSERT ... ON DUPLICATE KEY UPDATE`` (which also fires on a conflict in any other unique
        key of the table). Rows repeating a key within the batch are collapsed first, the last
        one winning, so every backend ends with the same rows. ``updated_at``-style ``onupdate``
        columns are refreshed on conflict.

        Args:
            rows: Mappings naming the same fields, including every ``key`` field.
            key: Field(s) of the primary key (default) or of a unique constraint/index.
            update: Fields to overwrite on conflict (default: every non-key field of the rows;
                an empty list keeps existing rows unchanged).
            returning: Return the resulting ORM objects (``RETURNING`` on every backend,
                MariaDB 10.5+), one per distinct key, in input order.

        Returns:
            The number of distinct keys written, or the objects when ``returning``.

        Raises:
            InvalidQueryError: Unknown field, key not unique, key field missing from the rows,
                rows naming different fields, unhashable or null key values (a NULL never
                conflicts, and would be a new autoincrement key on some backends only).
            RdbmsConflictError: Another constraint is violated.
        """
        await self._flush()
        return await _bulk.upsert_many(
            self.session, inspect(self.model), rows, key=key, update_fields=update, returning=returning
        )

    @overload
    async def update_many(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        key: Sequence[str] | str | None = ...,
        returning: Literal[False] = ...,
        include_deleted: bool = ...,
    ) -> int: ...

    @overload
    async def update_many(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        key: Sequence[str] | str | None = ...,
        returning: Literal[True],
        include_deleted: bool = ...,
    ) -> builtins.list[ModelT]: ...

    async def update_many(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        key: Sequence[str] | str | None = None,
        returning: bool = False,
        include_deleted: bool = False,
    ) -> int | builtins.list[ModelT]:
        """Update each row found by its ``key`` with the row's other fields.

        PostgreSQL: one ``UPDATE ... FROM (VALUES ...)`` per chunk; MariaDB and SQLite: an
        executemany ``UPDATE ... WHERE key = ?``. Rows repeating a key are collapsed first (the
        last wins). Keys with no (live) row are skipped silently: the count (or the returned
        objects) shows which rows were matched. Objects already loaded in the session are not
        refreshed unless ``returning`` (which reloads them).

        Args:
            rows: Mappings naming the same fields: the key field(s) plus the fields to set.
            key: Field(s) of the primary key (default) or of a unique constraint/index.
            returning: Return the updated ORM objects in input order (re-read by key in the same
                transaction on every backend: executemany cannot return rows); skipped keys,
                soft-deleted rows included, are not returned.
            include_deleted: Also update soft-deleted rows.

        Returns:
            The number of rows matched, or the updated objects when ``returning``.

        Raises:
            InvalidQueryError: Unknown field, key not unique or missing from the rows, no field
                to set, rows naming different fields, null key values.
            RdbmsConflictError: The new values violate a constraint.
        """
        await self._flush()
        extra = None
        if self._soft_delete and not include_deleted:
            extra = self.model.deleted_at.is_(None)  # type: ignore[attr-defined]
        return await _bulk.update_many(
            self.session, inspect(self.model), rows, key=key, returning=returning, extra_where=extra
        )

    @overload
    async def delete_many(
        self, keys: Iterable[object], *, hard: bool = ..., returning: Literal[False] = ...
    ) -> int: ...

    @overload
    async def delete_many(
        self, keys: Iterable[object], *, hard: bool = ..., returning: Literal[True]
    ) -> builtins.list[Any]: ...

    async def delete_many(
        self, keys: Iterable[object], *, hard: bool = False, returning: bool = False
    ) -> int | builtins.list[Any]:
        """Delete the rows with these primary keys (tuples for composite keys); soft for soft-delete models.

        One ``DELETE ... WHERE key IN (...)`` per chunk (``UPDATE ... SET deleted_at`` of live rows
        for soft-delete models unless ``hard``). Missing keys are skipped; repeated ones count once.

        Args:
            keys: Primary key values.
            hard: Remove rows even when the model supports soft deletion.
            returning: Return the keys actually deleted (``DELETE ... RETURNING`` on every backend;
                a soft delete on MariaDB, which has no ``UPDATE ... RETURNING``, locks and reads the
                keys first).

        Returns:
            The number of rows deleted, or their keys when ``returning``.

        Raises:
            InvalidQueryError: A key of the wrong shape (tuple for a single-column key or the
                reverse), null or unhashable.
        """
        await self._flush()
        return await _bulk.delete_many(
            self.session,
            inspect(self.model),
            keys,
            soft_delete=utcnow if self._soft_delete and not hard else None,
            returning=returning,
        )

    async def _flush(self) -> None:
        if self.session.new or self.session.dirty or self.session.deleted:
            with translating_errors():
                await self.session.flush()

    async def _resolve(self, target: ModelT | object, *, include_deleted: bool = False) -> ModelT:
        if isinstance(target, self.model):
            return target
        return await self.get(target, include_deleted=include_deleted)
