"""Public redaction API: one policy for logs, reprs, health reports and exceptions."""

from __future__ import annotations

from internal_base._redaction import (
    MASK,
    is_secret_key,
    redact,
    redact_headers,
    redact_text,
    redact_url,
    register_secret_key,
)

__all__ = [
    "MASK",
    "is_secret_key",
    "redact",
    "redact_headers",
    "redact_text",
    "redact_url",
    "register_secret_key",
]
