"""Tests for the public API surface."""

from __future__ import annotations

import importlib

import pytest

import internal_base
from internal_testing.public_api import assert_public_api

# Public submodules whose names the package root re-exports.
MODULES = [
    "context",
    "errors",
    "health",
    "logging",
    "logging_config",
    "redaction",
    "resilience",
    "secrets",
    "settings",
    "telemetry",
]
# Third-party names that public submodules re-export for convenience; the root does not.
THIRD_PARTY = {"SecretBytes", "SecretStr", "SettingsConfigDict"}


@pytest.mark.parametrize(
    "module",
    [
        "internal_base",
        "internal_base.context",
        "internal_base.cursor",
        "internal_base.errors",
        "internal_base.health",
        "internal_base.logging",
        "internal_base.logging_config",
        "internal_base.redaction",
        "internal_base.resilience",
        "internal_base.secrets",
        "internal_base.settings",
        "internal_base.telemetry",
    ],
)
def test_public_api(module: str) -> None:
    """Each public module has a sorted, resolvable, complete and documented ``__all__``."""
    assert_public_api(module)


def test_root_reexports_every_public_submodule() -> None:
    """The root's ``__all__`` is the union of the public submodules' (minus third-party names)."""
    expected: set[str] = set()
    for module in MODULES:
        expected.update(importlib.import_module(f"internal_base.{module}").__all__)
    assert set(internal_base.__all__) == expected - THIRD_PARTY


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
            [
                "configure_telemetry",
                "span",
                "inject_trace",
                "extract_trace",
                "get_meter",
                "get_tracer",
                "instrument",
                "uninstrument",
                "COMMONS_LIBRARIES",
            ],
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
        ("logging", ["configure_logging", "get_logger", "PRESENTATIONAL_EXTRAS"]),
        ("logging_config", ["configure_logging", "get_logger", "PRESENTATIONAL_EXTRAS"]),
    ],
)
def test_contract_names_exist(module: str, names: list[str]) -> None:
    """Every name the shared contract promises is importable from its path."""
    mod = importlib.import_module(f"internal_base.{module}")
    assert [name for name in names if name not in mod.__all__] == []


def test_instrumented_libraries_are_the_contract_five() -> None:
    """instrument() covers exactly cache, rdbms, aws, http and fastapi (issue #13's contract)."""
    assert internal_base.COMMONS_LIBRARIES == ("cache", "rdbms", "aws", "http", "fastapi")
    assert frozenset({"color_message"}) == internal_base.PRESENTATIONAL_EXTRAS


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
