"""internal_rdbms: async SQLAlchemy 2 base, sessions, repositories, filters and pagination.

Works with PostgreSQL (asyncpg), MySQL/MariaDB (aiomysql) and SQLite (aiosqlite). Plain URLs
(``postgresql://``, ``mysql://``, ``mariadb://``, ``sqlite://``) get their async driver; passwords
are masked everywhere; SQLAlchemy errors come out as :class:`RdbmsError` subclasses. Nothing runs
at import. Public modules: ``internal_rdbms.base`` (models), ``.session`` (:class:`Database`),
``.repository``, ``.query`` (filters, sorting, pagination), ``.outbox`` (transactional outbox) and
``.config`` (:class:`RdbmsSettings`);
this root re-exports them and the errors.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from internal_rdbms._errors import (
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
from internal_rdbms.base import (
    NAMING_CONVENTION,
    Base,
    IntPrimaryKeyMixin,
    SoftDeleteMixin,
    TimestampMixin,
    UTCDateTime,
    UUIDPrimaryKeyMixin,
    utcnow,
)
from internal_rdbms.config import RdbmsSettings, normalize_url
from internal_rdbms.outbox import Outbox, OutboxEvent, OutboxPublisher, OutboxRelay
from internal_rdbms.query import (
    DEFAULT_PAGE_SIZE,
    MAX_IN_VALUES,
    MAX_PAGE_SIZE,
    MAX_SEARCH_LENGTH,
    CursorPage,
    Eq,
    Filter,
    In,
    IsNull,
    Ne,
    OrderBy,
    Page,
    Range,
    Search,
    apply_filters,
    apply_order,
    filter_condition,
    paginate_keyset,
    paginate_offset,
    parse_filters,
    parse_order,
)
from internal_rdbms.repository import Repository
from internal_rdbms.session import Database, RdbmsReadOnlyError, transaction

__all__ = [
    "Base",
    "CursorPage",
    "DEFAULT_PAGE_SIZE",
    "Database",
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
    "OrderBy",
    "Outbox",
    "OutboxEvent",
    "OutboxPublisher",
    "OutboxRelay",
    "Page",
    "QueryError",
    "Range",
    "RdbmsConflictError",
    "RdbmsError",
    "RdbmsNotFoundError",
    "RdbmsReadOnlyError",
    "RdbmsSettings",
    "RdbmsTimeoutError",
    "RdbmsUnavailableError",
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
