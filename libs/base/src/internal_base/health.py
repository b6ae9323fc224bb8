"""Public health API: async checks, a registry, liveness and readiness reports."""

from __future__ import annotations

from internal_base._health import (
    CheckFn,
    CheckResult,
    HealthRegistry,
    HealthReport,
    HealthStatus,
    aggregate,
    default_registry,
    run_check,
)

__all__ = [
    "CheckFn",
    "CheckResult",
    "HealthRegistry",
    "HealthReport",
    "HealthStatus",
    "aggregate",
    "default_registry",
    "run_check",
]
