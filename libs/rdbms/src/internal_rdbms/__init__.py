"""internal_rdbms: Async SQLAlchemy 2 base, sessions, repositories and pagination for PostgreSQL, MySQL/MariaDB and SQLite.

The package exists so that its build, lockfile and wheel are in place; its features are tracked in
the project's issues and are not implemented yet.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("internal-rdbms")
except PackageNotFoundError:  # running from a source tree (Pants sandbox) rather than an installed wheel
    __version__ = "0.0.0+source"
