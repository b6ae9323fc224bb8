"""Sibling-library names that issue #12 renames, looked up under the new name first.

The sibling libraries rename settings and errors (``HttpClientSettings`` → ``HttpSettings``,
``DatabaseSettings`` → ``RdbmsSettings`` ...) in parallel with this library's tests; these lookups keep
the tests importable on both sides of each rename.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["http_settings", "rdbms_settings", "sibling"]


def sibling(module: str, *names: str) -> Any:
    """The first of ``names`` that ``module`` defines.

    Raises:
        AttributeError: ``module`` defines none of them.
    """
    found = importlib.import_module(module)
    for name in names:
        if hasattr(found, name):
            return getattr(found, name)
    raise AttributeError(f"{module} defines none of {names}")


def http_settings(**values: Any) -> Any:
    """internal_http's settings validated from ``values``."""
    return sibling("internal_http", "HttpSettings", "HttpClientSettings").model_validate(values)


def rdbms_settings(**values: Any) -> Any:
    """internal_rdbms's settings validated from ``values``."""
    return sibling("internal_rdbms", "RdbmsSettings", "DatabaseSettings").model_validate(values)
