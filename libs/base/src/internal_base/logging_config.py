"""Public logging setup API (the checklist's path): ``configure_logging`` and what it builds.

The same names as :mod:`internal_base.logging`; import from either. Call ``configure_logging``
once at startup (JSON to stderr by default, text or colours for development), then use
``get_logger`` everywhere.
"""

from __future__ import annotations

from internal_base.logging import (
    PRESENTATIONAL_EXTRAS,
    ColorFormatter,
    ContextFilter,
    JsonFormatter,
    LoggingSettings,
    RedactionFilter,
    TextFormatter,
    configure_logging,
    get_logger,
    shutdown_logging,
)

__all__ = [
    "ColorFormatter",
    "ContextFilter",
    "JsonFormatter",
    "LoggingSettings",
    "PRESENTATIONAL_EXTRAS",
    "RedactionFilter",
    "TextFormatter",
    "configure_logging",
    "get_logger",
    "shutdown_logging",
]
