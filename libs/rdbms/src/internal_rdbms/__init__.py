"""internal_rdbms: async SQLAlchemy 2 base, sessions, repositories, filters and pagination.

Works with PostgreSQL (asyncpg), MySQL/MariaDB (aiomysql) and SQLite (aiosqlite). Plain URLs
(``postgresql://``, ``mysql://``, ``mariadb://``, ``sqlite://``) get their async driver; passwords
are masked everywhere; SQLAlchemy errors come out as :class:`RdbmsError` subclasses. Nothing runs
at import.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

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
from internal_rdbms._config import DatabaseSettings, normalize_url
from internal_rdbms._errors import (
    ConflictError,
    DatabaseUnavailableError,
    InvalidQueryError,
    NotFoundError,
    QueryError,
    RdbmsError,
    TransactionConflictError,
    translate_error,
    translating_errors,
)
from internal_rdbms._filters import (
    MAX_IN_VALUES,
    MAX_SEARCH_LENGTH,
    Eq,
    Filter,
    In,
    IsNull,
    Ne,
    OrderBy,
    Range,
    Search,
    apply_filters,
    apply_order,
    filter_condition,
    parse_filters,
    parse_order,
)
from internal_rdbms._pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    CursorPage,
    Page,
    paginate_keyset,
    paginate_offset,
)
from internal_rdbms._repository import Repository
from internal_rdbms._session import Database, transaction

__all__ = [
    "Base",
    "ConflictError",
    "CursorPage",
    "DEFAULT_PAGE_SIZE",
    "Database",
    "DatabaseSettings",
    "DatabaseUnavailableError",
    "Eq",
    "Filter",
    "In",
    "IntPrimaryKeyMixin",
    "InvalidQueryError",
    "IsNull",
    "MAX_IN_VALUES",
    "MAX_PAGE_SIZE",
    "MAX_SEARCH_LENGTH",
    "NAMING_CONVENTION",
    "Ne",
    "NotFoundError",
    "OrderBy",
    "Page",
    "QueryError",
    "Range",
    "RdbmsError",
    "Repository",
    "Search",
    "SoftDeleteMixin",
    "TimestampMixin",
    "TransactionConflictError",
    "UTCDateTime",
    "UUIDPrimaryKeyMixin",
    "__version__",
    "apply_filters",
    "apply_order",
    "filter_condition",
    "normalize_url",
    "paginate_keyset",
    "paginate_offset",
    "parse_filters",
    "parse_order",
    "transaction",
    "translate_error",
    "translating_errors",
    "utcnow",
]

try:
    __version__ = version("internal-rdbms")
except PackageNotFoundError:  # running from a source tree (Pants sandbox) rather than an installed wheel
    __version__ = "0.0.0+source"
