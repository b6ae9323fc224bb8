"""Settings of internal_http: ``HttpSettings`` and its sections (env ``COMMONS_HTTP_``, YAML ``http:``)."""

from __future__ import annotations

from ._config import (
    BreakerConfig,
    HttpResilienceSettings,
    HttpSettings,
    LimitsConfig,
    RetryConfig,
    TimeoutConfig,
)

__all__ = [
    "BreakerConfig",
    "HttpResilienceSettings",
    "HttpSettings",
    "LimitsConfig",
    "RetryConfig",
    "TimeoutConfig",
]
