"""Declarative base with a constraint naming convention, portable column types and common mixins."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, DateTime, Dialect, Integer, MetaData, Uuid
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = [
    "Base",
    "IntPrimaryKeyMixin",
    "NAMING_CONVENTION",
    "SoftDeleteMixin",
    "TimestampMixin",
    "UTCDateTime",
    "UUIDPrimaryKeyMixin",
    "utcnow",
]

#: Deterministic constraint names, so that migrations (Alembic autogenerate) can drop them.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always round-trips as an aware UTC ``datetime``.

    PostgreSQL stores ``timestamptz``; MySQL/MariaDB store ``DATETIME(6)`` and SQLite text, both in
    UTC without an offset. Naive values are taken to be UTC; aware ones are converted to UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        """``datetime`` (used to coerce filter and cursor values)."""
        return datetime

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Microsecond precision on MySQL/MariaDB (plain ``DATETIME`` drops fractions)."""
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; drop the offset where the column cannot store it."""
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(AsyncAttrs, DeclarativeBase):
    """Declarative base of every model: naming convention, ``AsyncAttrs`` and a safe ``repr``.

    Applications may subclass :class:`~sqlalchemy.orm.DeclarativeBase` themselves and reuse the
    mixins; the repository works with any mapped class.
    """

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}

    def __repr__(self) -> str:
        """``Model(pk=...)``: only primary key values, never other (possibly sensitive) columns."""
        mapper = self.__mapper__
        keys = ", ".join(
            f"{column.key}={self.__dict__.get(column.key)!r}" for column in mapper.primary_key if column.key
        )
        return f"{type(self).__name__}({keys})"


class UUIDPrimaryKeyMixin:
    """``id``: a UUID primary key made client-side (``uuid4``); native on PostgreSQL, CHAR(32) elsewhere."""

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4, sort_order=-100)


class IntPrimaryKeyMixin:
    """``id``: an auto-incrementing integer primary key (BIGINT; INTEGER on SQLite for ROWID aliasing)."""

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True, sort_order=-100
    )


class TimestampMixin:
    """``created_at`` / ``updated_at``: aware UTC timestamps set by the application on insert and update."""

    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, nullable=False, sort_order=100
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False, sort_order=101
    )


class SoftDeleteMixin:
    """``deleted_at``: soft deletion; :class:`~internal_rdbms.Repository` hides deleted rows by default."""

    deleted_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), default=None, nullable=True, index=True, sort_order=102
    )

    @property
    def is_deleted(self) -> bool:
        """Whether the row is soft-deleted."""
        return self.deleted_at is not None

    def soft_delete(self, when: datetime | None = None) -> None:
        """Mark the row deleted (``when`` defaults to now); flushed with the session."""
        self.deleted_at = when or utcnow()

    def restore(self) -> None:
        """Undo :meth:`soft_delete`."""
        self.deleted_at = None
