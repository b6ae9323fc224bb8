"""Public correlation-context API (contextvars, safe per task and per thread)."""

from __future__ import annotations

from internal_base._context import (
    CORRELATION_ID_HEADER,
    REQUEST_ID_HEADER,
    bind,
    bound_keys,
    correlation_scope,
    extract_context,
    get_correlation_id,
    get_request_id,
    inject_context,
    is_valid_correlation_id,
    new_correlation_id,
    run_in_context,
    spawn,
)

__all__ = [
    "CORRELATION_ID_HEADER",
    "REQUEST_ID_HEADER",
    "bind",
    "bound_keys",
    "correlation_scope",
    "extract_context",
    "get_correlation_id",
    "get_request_id",
    "inject_context",
    "is_valid_correlation_id",
    "new_correlation_id",
    "run_in_context",
    "spawn",
]
