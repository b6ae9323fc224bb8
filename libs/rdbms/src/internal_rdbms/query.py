"""Query building blocks: filters, sorting and offset/keyset pagination.

Example::

    from internal_rdbms.query import Eq, OrderBy, paginate_keyset

    page = await paginate_keyset(session, User, order=[OrderBy("name")], limit=20, cursor=cursor)
"""

from __future__ import annotations

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

__all__ = [
    "CursorPage",
    "DEFAULT_PAGE_SIZE",
    "Eq",
    "Filter",
    "In",
    "IsNull",
    "MAX_IN_VALUES",
    "MAX_PAGE_SIZE",
    "MAX_SEARCH_LENGTH",
    "Ne",
    "OrderBy",
    "Page",
    "Range",
    "Search",
    "apply_filters",
    "apply_order",
    "filter_condition",
    "paginate_keyset",
    "paginate_offset",
    "parse_filters",
    "parse_order",
]
