"""internal_fastapi: FastAPI middleware, responses, pagination, dependencies and error handling.

The package exists so that its build, lockfile and wheel are in place; its features are tracked in
the project's issues and are not implemented yet.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("internal-fastapi")
except PackageNotFoundError:  # running from a source tree (Pants sandbox) rather than an installed wheel
    __version__ = "0.0.0+source"
