"""Public exception hierarchy: ``CommonsError`` and its subclasses."""

from __future__ import annotations

from internal_base._errors import CircuitOpenError, CommonsError, ConfigurationError

__all__ = ["CircuitOpenError", "CommonsError", "ConfigurationError"]
