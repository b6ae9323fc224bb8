"""Public logging API: ``configure_logging``, ``get_logger`` and the formatters and filters it uses."""

from __future__ import annotations

from internal_base._logging import (
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
