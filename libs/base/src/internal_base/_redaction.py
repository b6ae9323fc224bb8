"""The one redaction policy used by every commons library.

Secrets are recognised two ways: by the *name* they are stored under (``password``,
``api_key``, ``Authorization`` ...) and by *patterns* inside free text (URL passwords,
``key=value`` pairs and header tuples under a secret name, ``Bearer`` tokens, JWTs, AWS access
key ids). Logging, spans, settings reprs, health reports and exception messages all go through
these functions. What cannot be inspected fully (nesting deeper than 20 levels, more than
10,000 items in one value) is masked whole: redaction fails closed.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import unquote_plus

from pydantic import SecretBytes, SecretStr

from internal_base._secret_text import (
    ENCODED_USERINFO,
    MASK,
    MIN_SECRET_LEN,
    TRIGGER,
    URL_USERINFO,
    redact_elements,
    redact_pairs,
    redact_patterns,
    redact_pem,
    redact_sql,
)

__all__ = [
    "CYCLE",
    "MASK",
    "is_secret_key",
    "redact",
    "redact_headers",
    "redact_text",
    "redact_url",
    "register_secret_key",
]

#: What a reference back to an enclosing container becomes in a redacted copy.
CYCLE: Final = "<cycle>"

# Fragments that make a key name secret once non-alphanumerics are removed and it is lower-cased.
_SECRET_FRAGMENTS: Final = (
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "signingkey",
    "encryptionkey",
    "accountkey",
    "subscriptionkey",
    "masterkey",
    "sessionkey",
    "credential",
    "authorization",
    "cookie",
    "sessionid",
    "signature",
    "authkey",
    "hmackey",
    "privkey",
    "basicauth",
    "httpauth",
    "proxyauth",
)
# Whole words (between separators) that make a name secret: ``DB_PASS``, ``redis-pass``.
_SECRET_WORDS: Final = frozenset({"pass", "pwd"})
# Whole names (after normalisation) that are secret but too short to match as fragments.
_SECRET_NAMES: Final = frozenset({"pwd", "pass", "auth", "xapikey", "dsn_password", "sig"})
_SECRET_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"}
)
_NORMALISE: Final = re.compile(r"[^a-z0-9]")
_SCHEME: Final = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-]*://")
# URL_USERINFO for one whole URL: its password may hold spaces too (SQLAlchemy accepts them).
_URL_USERINFO: Final = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*://[^:/?#@]*:)(?:[^/?#]*@|[^@]*@)")
_MAX_DEPTH: Final = 20
_MAX_ITEMS: Final = 10_000
_SCALARS: Final = frozenset({int, float, bool, type(None)})
# Key types JSON can write; any other key (a tuple, bytes, an object) becomes its redacted text.
_KEYS: Final = frozenset({str, int, float, bool, type(None)})
_WHITESPACE: Final = str.maketrans("", "", "\r\n\t")
# Names a library declared secret at run time (a custom auth header such as ``X-Tenant``): a set
# for membership and an append-only list for scans (iterating a list another thread appends to
# is safe; iterating a set that grows raises "Set changed size during iteration").
_registered: set[str] = set()
_registered_names: list[str] = []
_registering: Final = threading.Lock()
# Past this many registered names, free text is scanned by its words instead of by every name.
_SCAN_BY_NAME_MAX: Final = 64
_WORDS: Final = re.compile(r"[a-z0-9_.\-]+")


def is_secret_key(name: str) -> bool:
    """Tell whether a key, field or header name holds a secret.

    Args:
        name: Any key name, in any case or separator style (``apiKey``, ``X-API-Key``, ``db_password``).

    Returns:
        True when values stored under this name must be masked.
    """
    if type(name) is not str:  # noqa: E721 (a subclass's __eq__/__hash__/lower could lie to the cache)
        name = str.__str__(name)
    if len(name) > _CACHED_NAME_LEN:
        return _uncached(name)
    return _cached(name, _generation[0])


def registration_generation() -> int:
    """A number that changes whenever ``register_secret_key`` adds a name (for callers' own caches).

    A name is added before the number changes: an answer computed after reading the number is
    never older than it.
    """
    return _generation[0]


def _uncached(name: str) -> bool:
    lowered = name.lower()
    if lowered in _registered or lowered in _SECRET_HEADERS:
        return True
    compact = _NORMALISE.sub("", lowered)
    if compact in _SECRET_NAMES or lowered in _SECRET_NAMES:
        return True
    if any(fragment in compact for fragment in _SECRET_FRAGMENTS):
        return True
    return not _SECRET_WORDS.isdisjoint(_NORMALISE.split(lowered))


# Answers are remembered per registration generation: a registration moves every lookup to a new
# generation, so a "not secret" computed before it is never found again, even one stored by a
# thread racing the registration. Long names are not remembered (4,096 could hold megabytes).
_CACHED_NAME_LEN: Final = 256
_generation: Final = [0]


@functools.lru_cache(maxsize=4096)
def _cached(name: str, generation: int) -> bool:
    return _uncached(name)


def register_secret_key(name: str) -> None:
    """Treat ``name`` as secret everywhere in this process from now on.

    For names the policy cannot guess, e.g. a custom auth header (``X-Tenant``): internal_http
    registers every header it knows carries a credential, so a server echoing it back, or a
    library logging it at DEBUG, is masked too. Registration only ever adds secrets (fails closed).

    Args:
        name: A key, field or header name, in any case.
    """
    lowered = name.lower()
    with _registering:
        if not lowered or lowered in _registered:
            return
        _registered_names.append(lowered)
        _registered.add(lowered)
        _generation[0] += 1  # after the add: whoever sees the new generation sees the name


def _mentions_registered(lowered: str) -> bool:
    """Whether lower-cased ``lowered`` contains a registered name (cheaply, however many there are)."""
    names = _registered_names
    if not names:
        return False
    if len(names) <= _SCAN_BY_NAME_MAX:
        return any(name in lowered for name in names)
    registered = _registered
    return any(word.strip("-.") in registered for word in _WORDS.findall(lowered))


def _is_secret_name(name: object) -> bool:
    """``is_secret_key`` for str and bytes names (header tuples carry bytes); False for others."""
    if isinstance(name, str):
        return is_secret_key(name)
    if isinstance(name, bytes | bytearray):
        return is_secret_key(bytes(name).decode("latin-1"))
    return False


# Short texts already searched and found free of every trigger word: log messages and extra
# values repeat ("/orders", "acme"), and one set lookup is cheaper than the search. TRIGGER never
# changes, so an entry never goes stale (registered names are still checked each time). Bounded:
# emptied when full.
_UNTRIGGERED: Final[set[str]] = set()
_UNTRIGGERED_MAX: Final = 2048
_UNTRIGGERED_LEN: Final = 256


def redact_text(text: str) -> str:
    """Mask secrets in free text.

    Masked: URL passwords (also when they contain ``/``), the values of pairs whose key is
    secret by ``is_secret_key`` (``password=x``, ``"token": "a b"``, ``'X-Amz-Security-Token':
    b'x'``, ``(b'set-cookie', b'sid=1')``), XML elements named so (``<SessionToken>x</...>``),
    ``Bearer``/``Basic`` credentials, JWTs and AWS access key ids.

    Returns:
        The masked text; the same object when nothing was masked (a plain ``str`` copy of a
        ``str`` subclass: its characters are what was inspected, whatever its ``__str__`` says).
    """
    # Fast path: too short for any pattern, or none of the trigger words: the same object back.
    if type(text) is not str:  # noqa: E721 (a subclass could lie: inspect and return its characters)
        text = str.__str__(text)
    size = len(text)
    if size < MIN_SECRET_LEN:
        return text
    memo = size <= _UNTRIGGERED_LEN
    if memo and text in _UNTRIGGERED and (not _registered_names or not _mentions_registered(text.lower())):
        return text
    lowered = text.lower()
    if TRIGGER.search(lowered) is None:
        if memo:
            if len(_UNTRIGGERED) >= _UNTRIGGERED_MAX:
                _UNTRIGGERED.clear()
            _UNTRIGGERED.add(text)
        if not _registered_names or not _mentions_registered(lowered):
            return text
    redacted = URL_USERINFO.sub(rf"\1{MASK}@", redact_sql(redact_pem(text)))
    if "%" in redacted:
        redacted = ENCODED_USERINFO.sub(rf"\1{MASK}%40", redacted)
    redacted = redact_patterns(redact_elements(redact_pairs(redacted, is_secret_key), is_secret_key))
    return text if redacted == text else redacted


#: Longest text written whole to a log line or an exported span value.
MAX_TEXT: Final = 100_000
_CUT_MARGIN: Final = 4096  # past the reach of every secret pattern (a URL password: 1,024)
_CUT_SLACK: Final = 64  # longer than the "... <N characters cut>" marker


def redact_text_cut(text: str, limit: int = MAX_TEXT) -> str:
    """``redact_text(text)``, cut to ``limit`` characters (and marked) when longer.

    Redacting megabytes on the caller's thread would block it for seconds, so only the start is
    redacted: with a margin longer than any secret pattern reaches, so a secret across the cut
    is masked (fail closed) before the cut is made.
    """
    if len(text) <= limit + _CUT_SLACK:  # a text cut before (its marker added) is not cut again
        return redact_text(text)
    kept = redact_text(text[: limit + _CUT_MARGIN])[:limit]
    return f"{kept}... <{len(text) - limit} characters cut>"


def redact_url(url: str) -> str:
    """Mask the password in a URL's userinfo and the values of secret query and fragment parameters.

    Only the secrets change: the rest of the URL comes back character for character
    (``sqlite:///x`` stays ``sqlite:///x``).

    Args:
        url: Any URL or DSN, e.g. ``postgresql://app:pw@db:5432/app?sslpassword=x``.

    Returns:
        The URL with ``***`` in place of every secret; text without a scheme goes through ``redact_text``.
    """
    scheme = _SCHEME.match(url)
    if scheme is None:
        return redact_text(url)
    userinfo = _URL_USERINFO.match(url)
    if userinfo is None:
        head, rest = url[: scheme.end()], url[scheme.end() :]
    else:
        head, rest = f"{userinfo.group(1)}{MASK}@", url[userinfo.end() :]
    path, hash_sign, fragment = rest.partition("#")
    path, question, query = path.partition("?")
    if question:
        query = _mask_parameters(query)
    if hash_sign:
        fragment = _mask_parameters(fragment)
    # Free-text patterns for what the parameters may carry (a DSN in ?next=, a JWT in a path).
    return head + redact_text(f"{path}{question}{query}{hash_sign}{fragment}")


def _mask_parameters(query: str) -> str:
    """``a=1&token=x`` -> ``a=1&token=***``, every other character kept."""
    if "=" not in query:
        return query
    pairs = []
    for pair in query.split("&"):
        name, equals, value = pair.partition("=")
        if equals and value and is_secret_key(unquote_plus(name)):
            pair = f"{name}={MASK}"
        pairs.append(pair)
    return "&".join(pairs)


def _redact_bytes(value: bytes) -> str:
    """Text bytes as their redacted repr; binary bytes (an HPACK block, a ciphertext) as ``<N bytes>``.

    Binary data cannot be searched for secrets (HPACK huffman-codes header values), so it is
    masked whole: redaction fails closed.
    """
    try:
        text = value.decode()
    except UnicodeDecodeError:
        return f"<{len(value)} bytes>"
    if not text.translate(_WHITESPACE).isprintable():
        return f"<{len(value)} bytes>"
    return redact_text(repr(value))


def _key_text(key: object) -> str:
    """A mapping key JSON cannot write, as text: bytes as ``_redact_bytes``, others as their repr."""
    if isinstance(key, bytes):
        return _redact_bytes(key)
    return key if isinstance(key, str) else redact_text(repr(key))


def exception_text(exc: BaseException | None) -> str:
    """``Type: message`` redacted; ``Type: <unprintable>`` when the exception's ``str()`` raises."""
    try:
        text = str(exc)
    except Exception:  # a driver's broken __str__ must not break the caller's error handling
        text = "<unprintable>"
    return redact_text(f"{type(exc).__name__}: {text}")


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Copy headers with Authorization, Cookie, Set-Cookie, X-API-Key and secret-looking names masked."""
    return {name: (MASK if is_secret_key(name) else value) for name, value in headers.items()}


def redact(value: object) -> object:
    """Return a redacted copy of ``value``.

    Mappings are copied (keys JSON cannot write, such as tuples or bytes, become their text)
    with values under secret keys replaced by ``***``; lists, tuples and
    sets are copied element by element, and a ``(name, value)`` pair with a secret name (a
    header tuple) gets its value masked; strings go through ``redact_text``; ``bytes`` become
    their redacted ``repr`` when they are text and ``<N bytes>`` when binary; pydantic
    ``SecretStr``/``SecretBytes`` become ``***``. A reference back to an enclosing container
    becomes ``<cycle>``; a container nested deeper than 20 levels or past 10,000 items in all
    becomes ``***``. Other objects are returned unchanged (the
    logging formatters redact them once they are turned into text).

    Args:
        value: Any object, typically log arguments or extra fields.

    Returns:
        The redacted copy (the input is never modified).
    """
    return _redact(value, redact_text)


def redact_cut(value: object) -> object:
    """``redact`` with every string cut to ``MAX_TEXT`` characters after redaction (``redact_text_cut``)."""
    return _redact(value, redact_text_cut)


def _redact(value: object, text: Callable[[str], str]) -> object:
    kind = type(value)
    if kind is str:
        return text(value)  # type: ignore[arg-type]
    if kind in _SCALARS:
        return value
    if kind is list or kind is tuple:
        flat = _flat(value, text)  # type: ignore[arg-type]
        if flat is not None:
            return flat if kind is list else tuple(flat)
    return _Walk(text).value(value, 0)


def _flat(value: list[object] | tuple[object, ...], text: Callable[[str], str]) -> list[object] | None:
    """A short list/tuple of scalars and strings redacted without a walk; None for any other."""
    if len(value) > 16:
        return None
    for item in value:
        kind = type(item)
        if kind is not str and kind not in _SCALARS:
            return None
    first = value[0] if len(value) == 2 else None
    if isinstance(first, str) and is_secret_key(first):
        return [first, MASK]
    return [text(item) if isinstance(item, str) else item for item in value]


class _Walk:
    """One ``redact`` call: the containers open on the current path and the items left to visit."""

    __slots__ = ("budget", "open", "text")

    def __init__(self, text: Callable[[str], str]) -> None:
        self.budget = _MAX_ITEMS
        self.open: set[int] = set()
        self.text = text

    def value(self, value: object, depth: int) -> object:
        kind = type(value)
        if kind in _SCALARS:
            return value
        if kind is str:
            return self.text(value)  # type: ignore[arg-type]
        if kind is not dict and kind is not list and kind is not tuple:  # the ABC checks are slow
            if isinstance(value, str):
                return self.text(value)
            if isinstance(value, SecretStr | SecretBytes):
                return MASK
            if isinstance(value, bool | int | float):
                return value
            if isinstance(value, bytes | bytearray | memoryview):
                return _redact_bytes(bytes(value))
            if not isinstance(value, Mapping | list | tuple | set | frozenset):
                return value
        ident = id(value)
        if ident in self.open:
            return CYCLE
        self.budget -= len(value)  # type: ignore[arg-type]
        if depth >= _MAX_DEPTH or self.budget < 0:
            return MASK
        self.open.add(ident)
        try:
            return self._container(value, depth + 1)
        finally:
            self.open.discard(ident)

    def _container(self, value: Any, depth: int) -> object:
        kind = type(value)
        if kind is dict or (kind is not list and kind is not tuple and isinstance(value, Mapping)):
            return {
                (key if type(key) in _KEYS else _key_text(key)): (
                    MASK if _is_secret_name(key) else self._item(entry, depth)
                )
                for key, entry in value.items()
            }
        if kind is list or kind is tuple or isinstance(value, list | tuple):
            if len(value) == 2 and _is_secret_name(value[0]):
                pair = [self._item(value[0], depth), MASK]  # a (name, value) header tuple
                return pair if isinstance(value, list) else tuple(pair)
            items = [self._item(entry, depth) for entry in value]
            return items if isinstance(value, list) else tuple(items)
        return type(value)(self._item(entry, depth) for entry in value)

    def _item(self, item: object, depth: int) -> object:
        """``value(item, depth)`` with the common leaves (scalars, strings) handled inline."""
        kind = type(item)
        if kind in _SCALARS:
            return item
        if kind is str:
            return self.text(item)  # type: ignore[arg-type]
        return self.value(item, depth)
