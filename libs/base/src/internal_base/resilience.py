"""Public resilience API: retries, circuit breaker, timeouts, policies and the testing switch."""

from __future__ import annotations

from internal_base._breaker import BreakerState, CircuitBreaker, Listener
from internal_base._policy import ResiliencePolicy, ResilienceSettings
from internal_base._retry import RetryPolicy, WaitOverride
from internal_base._waiting import sleep, testing, with_timeout

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "Listener",
    "ResiliencePolicy",
    "ResilienceSettings",
    "RetryPolicy",
    "WaitOverride",
    "sleep",
    "testing",
    "with_timeout",
]
