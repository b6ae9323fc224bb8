"""The curated public API: the package root and the public modules."""

from __future__ import annotations

import pytest

import internal_http
from internal_testing.public_api import assert_public_api


@pytest.mark.parametrize(
    "module",
    [
        "internal_http",
        "internal_http.auth",
        "internal_http.client",
        "internal_http.config",
        "internal_http.telemetry",
    ],
)
def test_public_api(module: str) -> None:
    """Each public module's __all__ is sorted, resolvable, complete and documented."""
    assert_public_api(module)


@pytest.mark.parametrize("module", ["internal_http.auth", "internal_http.client", "internal_http.config"])
def test_root_re_exports_the_public_modules(module: str) -> None:
    """Every name of a public module is importable from the package root too."""
    names = __import__(module, fromlist=["__all__"]).__all__
    assert [name for name in names if name not in internal_http.__all__] == []


def test_telemetry_is_its_own_module() -> None:
    """instrument()/uninstrument() live in internal_http.telemetry (the name every library shares)."""
    import internal_http.telemetry

    assert internal_http.telemetry.__all__ == [
        "ATTEMPT_EVENT",
        "DURATION_METRIC",
        "instrument",
        "is_instrumented",
        "uninstrument",
    ]
    assert "instrument" not in internal_http.__all__
