"""Declarative base, naming convention, mixins and the UTC datetime type of ``internal_rdbms`` models.

Example::

    from internal_rdbms.base import Base, IntPrimaryKeyMixin, TimestampMixin

    class User(IntPrimaryKeyMixin, TimestampMixin, Base):
        __tablename__ = "users"
"""

from __future__ import annotations

from internal_rdbms._base import (
    NAMING_CONVENTION,
    Base,
    IntPrimaryKeyMixin,
    SoftDeleteMixin,
    TimestampMixin,
    UTCDateTime,
    UUIDPrimaryKeyMixin,
    utcnow,
)

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
