"""The public API: a sorted, resolvable ``__all__`` and a version."""

from __future__ import annotations

import importlib
import re

import pytest

import internal_rdbms

_MODULES = ["_base", "_config", "_errors", "_filters", "_pagination", "_repository", "_session"]


def test_all_is_sorted() -> None:
    """``__all__`` is sorted."""
    assert internal_rdbms.__all__ == sorted(internal_rdbms.__all__)


def test_every_name_resolves() -> None:
    """Every name in ``__all__`` is an attribute of the package."""
    assert [name for name in internal_rdbms.__all__ if not hasattr(internal_rdbms, name)] == []


def test_all_is_exactly_the_curated_api() -> None:
    """The package exports exactly the curated names."""
    assert set(internal_rdbms.__all__) == {
        "Base", "ConflictError", "CursorPage", "DEFAULT_PAGE_SIZE", "Database", "DatabaseSettings",
        "DatabaseUnavailableError", "Eq", "Filter", "In", "IntPrimaryKeyMixin", "InvalidQueryError", "IsNull",
        "MAX_IN_VALUES", "MAX_PAGE_SIZE", "MAX_SEARCH_LENGTH", "NAMING_CONVENTION", "Ne", "NotFoundError",
        "OrderBy", "Page", "QueryError", "Range", "RdbmsError", "Repository", "Search", "SoftDeleteMixin",
        "TimestampMixin", "TransactionConflictError", "UTCDateTime", "UUIDPrimaryKeyMixin", "__version__",
        "apply_filters", "apply_order", "filter_condition", "normalize_url", "paginate_keyset",
        "paginate_offset", "parse_filters", "parse_order", "transaction", "translate_error",
        "translating_errors", "utcnow",
    }  # fmt: skip


@pytest.mark.parametrize("module", _MODULES)
def test_private_modules_have_sorted_resolvable_all(module: str) -> None:
    """Each private module has a sorted ``__all__`` whose names exist."""
    mod = importlib.import_module(f"internal_rdbms.{module}")
    assert mod.__all__ == sorted(mod.__all__)
    assert [name for name in mod.__all__ if not hasattr(mod, name)] == []


def test_package_reexports_come_from_private_modules() -> None:
    """Every exported name except the version is defined in one of the private modules."""
    defined = set()
    for module in _MODULES:
        defined.update(importlib.import_module(f"internal_rdbms.{module}").__all__)
    assert set(internal_rdbms.__all__) - defined == {"__version__"}


def test_version_is_a_pep440_string() -> None:
    """The version is a release or a local source marker, never empty."""
    assert re.fullmatch(r"\d+\.\d+\.\d+(\+source)?", internal_rdbms.__version__)
