"""Tests for the public API surface."""

from __future__ import annotations

import importlib

import pytest

import internal_base

MODULES = ["context", "errors", "health", "logging", "redaction", "resilience", "settings", "telemetry"]


def test_all_is_sorted() -> None:
    """``__all__`` is sorted."""
    assert internal_base.__all__ == sorted(internal_base.__all__)


def test_all_names_resolve() -> None:
    """Every name in ``__all__`` is an attribute of the package."""
    assert [name for name in internal_base.__all__ if not hasattr(internal_base, name)] == []


def test_all_matches_public_submodules() -> None:
    """``__all__`` is the union of the public submodules' ``__all__`` (minus re-exported pydantic names)."""
    expected: set[str] = set()
    for module in MODULES:
        expected.update(importlib.import_module(f"internal_base.{module}").__all__)
    expected -= {"SecretStr", "SettingsConfigDict"}
    assert set(internal_base.__all__) == expected


@pytest.mark.parametrize("module", MODULES)
def test_submodule_all_sorted_and_resolvable(module: str) -> None:
    """Each public submodule has a sorted, resolvable ``__all__``."""
    mod = importlib.import_module(f"internal_base.{module}")
    assert mod.__all__ == sorted(mod.__all__)
    assert all(hasattr(mod, name) for name in mod.__all__)


@pytest.mark.parametrize(
    ("module", "names"),
    [
        ("errors", ["CommonsError", "ConfigurationError", "CircuitOpenError"]),
        (
            "context",
            [
                "get_correlation_id",
                "get_request_id",
                "new_correlation_id",
                "correlation_scope",
                "bind",
                "bound_keys",
                "CORRELATION_ID_HEADER",
                "REQUEST_ID_HEADER",
                "inject_context",
                "extract_context",
            ],
        ),
        (
            "telemetry",
            ["configure_telemetry", "span", "inject_trace", "extract_trace", "get_meter", "get_tracer"],
        ),
        ("redaction", ["MASK", "is_secret_key", "redact", "redact_url", "redact_headers", "redact_text"]),
        ("settings", ["LibrarySettings"]),
        (
            "resilience",
            [
                "RetryPolicy",
                "CircuitBreaker",
                "ResiliencePolicy",
                "ResilienceSettings",
                "sleep",
                "testing",
                "with_timeout",
            ],
        ),
        ("health", ["HealthStatus", "CheckResult", "HealthReport", "HealthRegistry", "default_registry"]),
        ("logging", ["configure_logging", "get_logger"]),
    ],
)
def test_contract_names_exist(module: str, names: list[str]) -> None:
    """Every name the shared contract promises is importable from its path."""
    mod = importlib.import_module(f"internal_base.{module}")
    assert [name for name in names if name not in mod.__all__] == []


def test_error_hierarchy() -> None:
    """ConfigurationError is a CommonsError and a ValueError; CircuitOpenError carries its data."""
    error = internal_base.CircuitOpenError("db", -1.0)
    assert issubclass(internal_base.ConfigurationError, internal_base.CommonsError | ValueError)
    assert (error.name, error.retry_after, isinstance(error, internal_base.CommonsError)) == ("db", 0.0, True)


def test_circuit_open_error_pickles() -> None:
    """CircuitOpenError survives pickling (e.g. across process pools)."""
    import pickle

    error = pickle.loads(pickle.dumps(internal_base.CircuitOpenError("db", 2.5)))
    assert (error.name, error.retry_after) == ("db", 2.5)


def test_header_constants() -> None:
    """Header constants have the contract values."""
    assert (internal_base.CORRELATION_ID_HEADER, internal_base.REQUEST_ID_HEADER) == (
        "X-Correlation-ID",
        "X-Request-ID",
    )
