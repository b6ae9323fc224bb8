"""Public secrets API (the checklist's path): secret values and the one redaction policy.

Hold secrets in settings as ``SecretStr``/``SecretBytes`` (their ``repr`` is masked, read them
with ``get_secret_value()``); mask them anywhere else with the redaction functions, the same
policy that logs, settings reprs, health reports and error messages use. Not the standard
library's :mod:`secrets` (token generation); import this one as ``internal_base.secrets``.
"""

from __future__ import annotations

from pydantic import SecretBytes, SecretStr

from internal_base.redaction import (
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
    "SecretBytes",
    "SecretStr",
    "is_secret_key",
    "redact",
    "redact_headers",
    "redact_text",
    "redact_url",
    "register_secret_key",
]
