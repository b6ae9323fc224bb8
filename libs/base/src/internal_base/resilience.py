"""Public resilience API: backoff, retries, circuit breaker, timeouts, policies and the testing switch."""

from __future__ import annotations

from internal_base._backoff import Backoff
from internal_base._breaker import BreakerState, CircuitBreaker, Listener
from internal_base._policy import (
    BackoffSettings,
    BreakerSettings,
    ResiliencePolicy,
    ResilienceSettings,
    RetrySettings,
)
from internal_base._retry import RetryPolicy, WaitOverride
from internal_base._waiting import sleep, testing, with_timeout

__all__ = [
    "Backoff",
    "BackoffSettings",
    "BreakerSettings",
    "BreakerState",
    "CircuitBreaker",
    "Listener",
    "ResiliencePolicy",
    "ResilienceSettings",
    "RetryPolicy",
    "RetrySettings",
    "WaitOverride",
    "sleep",
    "testing",
    "with_timeout",
]
