"""The public API: curated, sorted, documented ``__all__`` of every public module, and a version."""

from __future__ import annotations

import importlib

import pytest

import internal_rdbms
from internal_testing.public_api import assert_public_api

_PUBLIC_MODULES = [
    "internal_rdbms",
    "internal_rdbms.base",
    "internal_rdbms.config",
    "internal_rdbms.outbox",
    "internal_rdbms.query",
    "internal_rdbms.repository",
    "internal_rdbms.session",
]
# Public modules the root does not re-export (their functions would be ambiguous there).
_NOT_REEXPORTED = ["internal_rdbms.telemetry"]


@pytest.mark.parametrize("module", _PUBLIC_MODULES + _NOT_REEXPORTED)
def test_public_api(module: str) -> None:
    """Each public module has a sorted, resolvable, complete and documented ``__all__``."""
    assert_public_api(module)


@pytest.mark.parametrize("module", _PUBLIC_MODULES[1:])
def test_root_reexports_every_public_module(module: str) -> None:
    """The package root re-exports the very objects of each public module."""
    mod = importlib.import_module(module)
    assert {name: getattr(internal_rdbms, name, None) for name in mod.__all__} == {
        name: getattr(mod, name) for name in mod.__all__
    }


def test_telemetry_module_is_not_imported_by_the_root() -> None:
    """The root does not re-export the telemetry functions (``internal_rdbms.telemetry`` holds them)."""
    assert "instrument" not in internal_rdbms.__all__
    assert not hasattr(internal_rdbms, "instrument")
