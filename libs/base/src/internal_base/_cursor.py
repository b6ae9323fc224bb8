"""Signed opaque cursors: base64url JSON followed by an HMAC-SHA256 tag bound to a purpose.

A token is ``<base64url(json payload)>.<base64url(tag)>`` where the tag is
``HMAC-SHA256(key, "v1" | len(purpose) | purpose | payload)`` truncated to 16 bytes. Binding the
purpose means a cursor issued for one listing (route, sort order, table) is refused by another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
from collections.abc import Mapping
from typing import Any, Final

from pydantic import SecretBytes, SecretStr

from internal_base._errors import CommonsError, ConfigurationError

__all__ = ["DEFAULT_MAX_LENGTH", "MIN_SECRET_BYTES", "CursorCodec", "InvalidCursorError"]

DEFAULT_MAX_LENGTH: Final = 2048
MIN_SECRET_BYTES: Final = 16
_TAG_BYTES: Final = 16
_VERSION: Final = b"v1"
_BASE64URL: Final = re.compile(r"[A-Za-z0-9_-]*")
_log = logging.getLogger("internal_base.cursor")

_process_key: bytes | None = None
_process_key_lock = threading.Lock()


class InvalidCursorError(CommonsError, ValueError):
    """A cursor was not issued by this codec for this purpose (edited, truncated, too long, foreign).

    The message says what was wrong in terms safe to show a client; it never contains the key.
    """


def _ephemeral_key() -> bytes:
    # One random key per process, made on first use and announced once: cursors signed with it
    # die with the process and are not shared by sibling worker processes started before it.
    global _process_key
    with _process_key_lock:
        if _process_key is None:
            _process_key = secrets.token_bytes(32)
            _log.warning(
                "cursor codec has no configured secret: using a random per-process key; "
                "cursors will not survive a restart or work across worker processes"
            )
        return _process_key


def _secret_bytes(secret: str | bytes | SecretStr | SecretBytes) -> bytes:
    if isinstance(secret, SecretStr | SecretBytes):
        secret = secret.get_secret_value()
    if isinstance(secret, str):
        return secret.encode("utf-8")
    if isinstance(secret, bytes):
        return secret
    raise ConfigurationError(f"cursor secret must be str, bytes or SecretStr, got {type(secret).__name__}")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    # Only the canonical spelling is accepted, so one payload has exactly one token.
    if _BASE64URL.fullmatch(text) is None:
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64encode(data) != text:
        raise ValueError("not canonical base64url")
    return data


class CursorCodec:
    """Encode a JSON object into an opaque URL-safe token and verify it on the way back.

    Without a ``secret`` the codec signs with a random per-process key and logs one WARNING
    (logger ``internal_base.cursor``) on first use: cursors then stop working after a restart
    and are not accepted by other worker processes. Configure a secret (from settings) for
    anything that runs more than one process.

    The payload is JSON; non-finite floats round-trip (Python's ``Infinity``/``NaN``
    extension), which is safe because only signed payloads are ever parsed.

    Args:
        secret: HMAC key, at least 16 bytes (str, bytes, ``SecretStr`` or ``SecretBytes``),
            or None for the per-process random key. Never shown in ``repr``.
        max_length: Longest token :meth:`decode` accepts and :meth:`encode` may produce.

    Raises:
        ConfigurationError: The secret is shorter than 16 bytes or ``max_length`` is below 32.

    Example:
        >>> codec = CursorCodec("a-secret-of-16-bytes-or-more")
        >>> token = codec.encode({"id": 42}, purpose="orders:id")
        >>> codec.decode(token, purpose="orders:id")
        {'id': 42}
    """

    __slots__ = ("_key", "max_length")

    def __init__(
        self,
        secret: str | bytes | SecretStr | SecretBytes | None = None,
        *,
        max_length: int = DEFAULT_MAX_LENGTH,
    ) -> None:
        key = None if secret is None else _secret_bytes(secret)
        if key is not None and len(key) < MIN_SECRET_BYTES:
            raise ConfigurationError(
                f"cursor secret must be at least {MIN_SECRET_BYTES} bytes long, got {len(key)}"
            )
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 32:
            raise ConfigurationError(f"cursor max_length must be an integer >= 32, got {max_length!r}")
        self._key = key
        self.max_length = max_length

    def __repr__(self) -> str:
        kind = "configured" if self._key is not None else "per-process random"
        return f"CursorCodec(secret=<{kind}>, max_length={self.max_length})"

    def __reduce__(self) -> Any:
        # Pickling would copy the key into wherever the pickle goes (a cache, a queue, a log).
        raise TypeError("CursorCodec holds a secret and cannot be pickled")

    def __copy__(self) -> CursorCodec:
        return self  # immutable in practice; copies would only duplicate the key

    def __deepcopy__(self, memo: dict[int, Any]) -> CursorCodec:
        return self

    @property
    def ephemeral(self) -> bool:
        """True when no secret was configured (cursors do not survive a restart)."""
        return self._key is None

    def _tag(self, payload: bytes, purpose: str) -> bytes:
        key = self._key if self._key is not None else _ephemeral_key()
        bound = purpose.encode("utf-8", "surrogatepass")
        message = b"%s:%d:%s:%s" % (_VERSION, len(bound), bound, payload)
        return hmac.new(key, message, hashlib.sha256).digest()[:_TAG_BYTES]

    def encode(self, payload: Mapping[str, Any], *, purpose: str) -> str:
        """Sign ``payload`` (JSON-serialisable, string keys) for ``purpose``.

        Args:
            payload: The position to carry, e.g. the sort key values of the last row.
            purpose: What the cursor is for (route, sort order ...); :meth:`decode` must be
                given the same string.

        Returns:
            A URL-safe token of at most ``max_length`` characters.

        Raises:
            TypeError: ``purpose`` is not a string or a value is not JSON-serialisable.
            ValueError: The token would be longer than ``max_length`` (it could never be decoded).
        """
        if not isinstance(purpose, str):
            raise TypeError(f"cursor purpose must be a string, got {type(purpose).__name__}")
        data = json.dumps(dict(payload), separators=(",", ":"), sort_keys=True).encode()
        token = f"{_b64encode(data)}.{_b64encode(self._tag(data, purpose))}"
        if len(token) > self.max_length:
            raise ValueError(
                f"cursor would be {len(token)} characters, longer than max_length={self.max_length}"
            )
        return token

    def decode(self, token: str, *, purpose: str) -> dict[str, Any]:
        """Verify ``token`` for ``purpose`` and return its payload.

        Raises:
            InvalidCursorError: The token is not a string, too long, malformed, was edited, or
                was issued for another purpose or with another key.
            TypeError: ``purpose`` is not a string.
        """
        if not isinstance(purpose, str):
            raise TypeError(f"cursor purpose must be a string, got {type(purpose).__name__}")
        if not isinstance(token, str):
            raise InvalidCursorError("invalid cursor: not a string")
        if len(token) > self.max_length:
            raise InvalidCursorError(f"invalid cursor: longer than {self.max_length} characters")
        body, dot, tag = token.partition(".")
        try:
            data, given = _b64decode(body), _b64decode(tag)
        except (binascii.Error, ValueError):
            raise InvalidCursorError("invalid cursor: not a cursor issued by this API") from None
        if not dot or not hmac.compare_digest(given, self._tag(data, purpose)):
            raise InvalidCursorError("invalid cursor: not a cursor issued by this API for this listing")
        try:
            payload = json.loads(data)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            raise InvalidCursorError("invalid cursor: unreadable content") from None
        if not isinstance(payload, dict):
            raise InvalidCursorError("invalid cursor: unreadable content")
        return payload
