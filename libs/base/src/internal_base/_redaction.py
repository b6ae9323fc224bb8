"""The one redaction policy used by every commons library.

Secrets are recognised two ways: by the *name* they are stored under (``password``,
``api_key``, ``Authorization`` ...) and by *patterns* inside free text (DSN passwords,
``Bearer`` tokens, ``key=value`` pairs, JWTs, AWS access key ids). Logging, settings
reprs, health reports and exception messages all go through these functions.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import SecretBytes, SecretStr

MASK: Final = "***"

# Fragments that make a key name secret once non-alphanumerics are removed and it is lower-cased.
_SECRET_FRAGMENTS: Final = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "signingkey",
    "encryptionkey",
    "credential",
    "authorization",
    "cookie",
    "sessionid",
    "signature",
)
# Whole names (after normalisation) that are secret but too short to match as fragments.
_SECRET_NAMES: Final = frozenset({"pwd", "pass", "auth", "xapikey", "dsn_password", "sig"})
_SECRET_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"}
)
_NORMALISE: Final = re.compile(r"[^a-z0-9]")

_KEY_WORDS: Final = (
    r"[\w.-]*(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key"
    r"|private[_-]?key|credential|authorization|cookie|signature)[\w.-]*"
)
_TEXT_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    # scheme://user:password@host -> scheme://user:***@host
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/?#@\s]*:)[^@\s/]+(@)"), rf"\1{MASK}\2"),
    # key=value / key: value / "key": "value" where key looks secret.
    (
        re.compile(
            rf"(?i)(\b{_KEY_WORDS}[\"']?\s*[=:]\s*[\"']?)"
            r"(?:(?:bearer|basic|digest|token)\s+)?[^\s\"'&,;}]+"
        ),
        rf"\1{MASK}",
    ),
    # Free-standing "Bearer abc.def" / "Basic dXNlcjpwYXNz".
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/\-]+=*"), rf"\1 {MASK}"),
    # JSON Web Tokens.
    (re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"), MASK),
    # AWS access key ids.
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), MASK),
)
# One cheap search, on the lower-cased text, that every secret pattern above needs to match
# first (a superset of them). Case-sensitive matching of lower-cased text is ~7x faster than (?i).
_TRIGGER: Final = re.compile(
    r"://|bearer|basic|passw|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|credential|authorization|cookie|signature|eyj|akia|asia"
)
# The shortest text any pattern above can match ("pwd=x"); shorter strings are returned as they are.
_MIN_SECRET_LEN: Final = 5
_MAX_DEPTH: Final = 20
_SCALARS: Final = frozenset({int, float, bool, type(None)})


@functools.lru_cache(maxsize=4096)
def is_secret_key(name: str) -> bool:
    """Tell whether a key, field or header name holds a secret.

    Args:
        name: Any key name, in any case or separator style (``apiKey``, ``X-API-Key``, ``db_password``).

    Returns:
        True when values stored under this name must be masked.
    """
    lowered = name.lower()
    if lowered in _SECRET_HEADERS:
        return True
    compact = _NORMALISE.sub("", lowered)
    if compact in _SECRET_NAMES or lowered in _SECRET_NAMES:
        return True
    return any(fragment in compact for fragment in _SECRET_FRAGMENTS)


def redact_text(text: str) -> str:
    """Mask DSN passwords, bearer tokens, ``key=value`` secrets, JWTs and AWS key ids in free text."""
    # Fast path: too short for any pattern, or none of the trigger words: the same object back.
    if len(text) < _MIN_SECRET_LEN or _TRIGGER.search(text.lower()) is None:
        return text
    for pattern, replacement in _TEXT_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_url(url: str) -> str:
    """Mask the password in a URL's userinfo and the values of secret query parameters.

    Args:
        url: Any URL or DSN, e.g. ``postgresql://app:pw@db:5432/app?sslpassword=x``.

    Returns:
        The URL with ``***`` in place of every secret; unparseable input goes through ``redact_text``.
    """
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostinfo = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{hostinfo}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_secret_key(key) for key, _ in pairs):
            query = urlencode(
                [(key, MASK if is_secret_key(key) else value) for key, value in pairs], safe="*"
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Copy headers with Authorization, Cookie, Set-Cookie, X-API-Key and secret-looking names masked."""
    return {name: (MASK if is_secret_key(name) else value) for name, value in headers.items()}


def redact(value: object, *, _depth: int = 0) -> object:
    """Return a redacted copy of ``value``.

    Mappings are copied with values under secret keys replaced by ``***``; lists, tuples and
    sets are copied element by element; strings go through ``redact_text``; pydantic
    ``SecretStr``/``SecretBytes`` become ``***``. Other objects are returned unchanged.

    Args:
        value: Any object, typically log arguments or extra fields.

    Returns:
        The redacted copy (the input is never modified).
    """
    kind = type(value)
    if kind is str:
        return redact_text(value)  # type: ignore[arg-type]
    if kind in _SCALARS:
        return value
    if _depth < _MAX_DEPTH:  # exact built-in containers first, without the ABC isinstance checks
        if kind is dict:
            return _redact_dict(value, _depth + 1)  # type: ignore[arg-type]
        if kind is list or kind is tuple:
            depth = _depth + 1
            items = [
                item if type(item) in _SCALARS else _redact_item(item, depth)
                for item in value  # type: ignore[attr-defined]
            ]
            return items if kind is list else tuple(items)
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, SecretStr | SecretBytes):
        return MASK
    if _depth >= _MAX_DEPTH or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return _redact_dict(value, _depth + 1)
    if isinstance(value, list):
        return [redact(item, _depth=_depth + 1) for item in value]
    if isinstance(value, tuple):
        return tuple(redact(item, _depth=_depth + 1) for item in value)
    if isinstance(value, set | frozenset):
        return type(value)(redact(item, _depth=_depth + 1) for item in value)
    return value


def _redact_item(item: object, depth: int) -> object:
    """``redact(item, _depth=depth)`` with the common leaves (scalars, strings) handled inline."""
    kind = type(item)
    if kind in _SCALARS:
        return item
    if kind is str:
        return redact_text(item)  # type: ignore[arg-type]
    return redact(item, _depth=depth)


def _redact_dict(value: Mapping[object, object], depth: int) -> dict[object, object]:
    """A redacted dict copy of a mapping: values under secret keys masked, the others redacted."""
    return {
        key: (MASK if isinstance(key, str) and is_secret_key(key) else _redact_item(item, depth))
        for key, item in value.items()
    }
