"""Secrets inside free text: URL passwords, ``key=value`` pairs, header tuples, tokens.

A *pair* is a key followed by ``=``, ``:`` or (for quoted values) ``,``; the key may be bare
(``password=x``), a command-line flag (``--password=x``, ``--api-key x``), quoted
(``"password": "x"``, ``'X-Amz-Security-Token': b'x'``), a byte string as in header tuples
(``(b'authorization', b'Bearer x')``) or escaped inside another string
(``\\"token\\": \\"x\\"``). Whether the key is secret is decided by the same
``is_secret_key`` that masks mapping keys, so free text and structured data follow one policy.
Separators also include ``=>`` (Ruby, PHP, Perl) and the percent-encoded ``%3D``/``%3A`` of
a form body or an encoded redirect URL. A secret value is masked whole: a quoted value up to
its closing quote (to the end of the text when it has none), a bracketed value up to its
matching bracket, an unquoted value up to the next separator, an ``Authorization`` scheme
together with its credentials.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

MASK: Final = "***"

# scheme://user:password@host. The password ends at the last "@" before the first "/", "?" or
# "#" (how urllib splits a netloc) or, when there is none, at the first "@" (how SQLAlchemy
# reads a password that contains "/"): whichever reaches further, so neither parser's view of
# the password can show through. Every part is bounded, so hostile text (``a://b:`` repeated)
# costs linear time; no \b before the scheme, so a long word before it cannot hide it.
# A password holding spaces (SQLAlchemy accepts them) is read up to the first "@" on its line
# (within 128 characters), unless a port follows the ":" (``http://host:8080 as admin@corp``).
URL_USERINFO: Final = re.compile(
    r"([a-zA-Z][a-zA-Z0-9+.\-]{0,31}://[^:/?#@\s\[]{0,256}:)"
    r"(?:[^\s/?#]{0,1024}|[^@\s]{0,1024}|(?=\S)(?!\d{1,5}(?:[\s/?#]|$))[^@\r\n]{0,128})@"
)
# The same userinfo percent-encoded inside another URL's parameter (``?next=https%3A%2F%2Fu%3Apw%40h``).
ENCODED_USERINFO: Final = re.compile(r"(?i)(%3A%2F%2F[^\s%/?#@&]{0,256}%3A)[^\s/?#@&]{0,256}?%40")
# A PEM private key block (also with escaped line breaks, inside JSON), to its END line or the end.
PEM_PRIVATE_KEY: Final = re.compile(
    r"-----BEGIN (?P<kind>[A-Z0-9 ]{0,40})PRIVATE KEY-----"
    r"(?:.*?(?P<end>-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----)|.*)",
    re.DOTALL,
)
# A password literal in SQL: ``PASSWORD 'x'``, ``PASSWORD('x')``, ``USER u IDENTIFIED [WITH plugin]
# BY 'x'`` (echoed DDL, driver errors; "revision identified by '9'" in prose is not one).
# Doubled quotes and backslash escapes stay inside the literal.
SQL_PASSWORD: Final = re.compile(
    r"(?i)(\b(?:password|(?:user|role|to)\s+\S{1,256}?\s+identified(?:\s+with\s+\w{1,64})?\s+by)"
    r"(?:\s*\(\s*|\s+))"
    r"(?:(?P<q>')(?:[^'\\]|\\.|'')*+'|(?P<d>\")(?:[^\"\\]|\\.|\"\")*+\")"
)
_PAIR_KEY: Final = re.compile(
    r"""(?:
        (?:\bb)?(?P<q>["'])(?P<qkey>[^"'\\\r\n]{1,128})(?P=q)
      | \\(?P<e>["'])(?P<ekey>[^"'\\\r\n]{1,128})\\(?P=e)
      | (?<![\w.\-])(?P<dash>-{1,2})?(?P<key>[\w.][\w.\-]{0,127}+)(?:\\?["'])?
    )
    (?:
        \s*(?:=>|[:=]|%3[aAdD]|,(?=\s*b?["']|\s*\\["']))\s*
      | (?(dash)[ \t]+(?=[^\s\-])|(?!))    # a command-line flag: --password value
    )""",
    re.VERBOSE,
)
_QUOTED: Final = {
    '"': re.compile(r'"(?:[^"\\]|\\.)*+"', re.DOTALL),
    "'": re.compile(r"'(?:[^'\\]|\\.)*+'", re.DOTALL),
}
_ESCAPED: Final = {
    '"': re.compile(r'\\"(?:[^\\]|\\(?!"))*+\\"', re.DOTALL),
    "'": re.compile(r"\\'(?:[^\\]|\\(?!'))*+\\'", re.DOTALL),
}
_BARE_VALUE: Final = re.compile(
    r"(?:(?:bearer|basic|digest|token|negotiate|aws4-hmac-sha256)\s+)?[^\s\"'&,;}]+", re.IGNORECASE
)
# A Cookie or Authorization header value holds several "; "- or ", "-separated parts
# (``a=1; session=abc``, ``Digest username="u", response="..."``): unquoted, it runs to the end
# of the line (or of a query parameter).
_HEADER_VALUE: Final = re.compile(r"[^\r\n&]+")
_WHOLE_LINE_KEYS: Final = ("cookie", "authorization")
_CLOSING: Final = {"[": "]", "(": ")", "{": "}"}
# <SessionToken>value</SessionToken> as in STS, IMDS and other XML bodies.
_ELEMENT: Final = re.compile(
    r"<(?P<tag>[A-Za-z_][\w.\-:]{0,127})(?P<attrs>\s[^<>]*)?>(?P<value>[^<]+)</(?P=tag)\s*>"
)

_OTHER_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    # Free-standing "Bearer abc.def" / "Basic dXNlcjpwYXNz".
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/\-]+=*"), rf"\1 {MASK}"),
    # JSON Web Tokens.
    (re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"), MASK),
    # AWS access key ids.
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), MASK),
    # Tokens with a well-known prefix (GitHub, GitLab, Slack, Stripe), also as a URL's user name.
    (
        re.compile(
            r"\b(?:gh[pousr]_[A-Za-z0-9]{20,255}|github_pat_[A-Za-z0-9_]{20,255}|glpat-[A-Za-z0-9_\-]{20,255}"
            r"|xox[abeprs]-[A-Za-z0-9\-]{10,255}|[sr]k_live_[A-Za-z0-9]{16,255})"
        ),
        MASK,
    ),
)

# One cheap search of the lower-cased text that every secret above needs to match first: a
# superset of the URL pattern, the tokens and every key name ``is_secret_key`` accepts, with
# up to three separators inside compound names (``api_key``, ``Signing-Key``, ``session id``).
_KEY: Final = "[^a-z0-9]{0,3}key"
# Written as a trie on the first letters (``a(?:kia|sia|...)``) so ``re`` skips in C to the few
# positions where a trigger can start and tries one branch there: ~4x faster than the flat
# alternation on log messages, and the same language (``tests/unit/test_redaction_trigger.py``).
TRIGGER: Final = re.compile(
    r"://|%3a%2f%2f"
    rf"|a(?:kia|sia|uth|pi{_KEY}|cc(?:ess|ount){_KEY})"
    r"|b(?:earer|asic)"
    r"|c(?:ookie|redential)"
    rf"|e(?:yj|ncryption{_KEY})"
    r"|g(?:h[pousr]_|ithub_pat_|lpat-)"
    rf"|hmac{_KEY}"
    r"|identified"
    r"|k_live_"
    rf"|master{_KEY}"
    rf"|p(?:ass|wd|riv(?:ate(?: key|{_KEY})|{_KEY}))"
    rf"|s(?:ecret|ig|ession[^a-z0-9]{{0,3}}(?:key|id)|ubscription{_KEY})"
    r"|token"
    r"|xox[abeprs]-"
)
# The shortest text any pattern can match ("pwd=x"); shorter strings are returned as they are.
MIN_SECRET_LEN: Final = 5


def redact_pairs(text: str, is_secret: Callable[[str], bool]) -> str:
    """Mask the value of every pair in ``text`` whose key ``is_secret`` accepts."""
    pieces: list[str] = []
    copied = 0  # text[:copied] is already in pieces
    position = 0
    search = _PAIR_KEY.search
    while True:
        match = search(text, position)
        if match is None:
            break
        position = match.end()
        key = match.group("qkey") or match.group("ekey") or match.group("key")
        if position >= len(text) or not is_secret(key):
            continue
        lowered = key.lower()
        masked, end = _masked_value(text, position, any(name in lowered for name in _WHOLE_LINE_KEYS))
        if end == position:
            continue
        pieces.append(text[copied:position])
        pieces.append(masked)
        copied = position = end
    if not pieces:
        return text
    pieces.append(text[copied:])
    return "".join(pieces)


def redact_elements(text: str, is_secret: Callable[[str], bool]) -> str:
    """Mask the text of every XML element whose tag name ``is_secret`` accepts."""
    if "</" not in text:
        return text

    def mask(match: re.Match[str]) -> str:
        if not is_secret(match.group("tag").rpartition(":")[2]):
            return match.group(0)
        tag, attrs = match.group("tag"), match.group("attrs") or ""
        return f"<{tag}{attrs}>{MASK}</{tag}>"

    return _ELEMENT.sub(mask, text)


def _masked_value(text: str, start: int, whole_line: bool) -> tuple[str, int]:
    """The mask for the value starting at ``start`` and the index where that value ends."""
    char = text[start]
    prefix = ""
    if char in "bB" and text[start + 1 : start + 2] in ("'", '"'):
        prefix, start = char, start + 1
        char = text[start]
    if char in _QUOTED:
        found = _QUOTED[char].match(text, start)
        if found is None:  # unterminated: everything to the end may belong to the secret
            return f"{prefix}{char}{MASK}", len(text)
        return f"{prefix}{char}{MASK}{char}", found.end()
    if char == "\\" and text[start + 1 : start + 2] in _ESCAPED:
        quote = text[start + 1]
        escaped = _ESCAPED[quote].match(text, start)
        if escaped is None:
            return f"\\{quote}{MASK}", len(text)
        return f"\\{quote}{MASK}\\{quote}", escaped.end()
    if char in _CLOSING:
        return MASK, _bracket_end(text, start)
    bare = (_HEADER_VALUE if whole_line else _BARE_VALUE).match(text, start)
    return (MASK, bare.end()) if bare is not None else ("", start)


def _bracket_end(text: str, start: int) -> int:
    """Index after the bracket that closes ``text[start]`` (quotes respected), or the text's end."""
    stack = [_CLOSING[text[start]]]
    index = start + 1
    length = len(text)
    while index < length:
        char = text[index]
        if char in _QUOTED:
            found = _QUOTED[char].match(text, index)
            index = length if found is None else found.end()
            continue
        if char in _CLOSING:
            stack.append(_CLOSING[char])
        elif char == stack[-1]:
            stack.pop()
            if not stack:
                return index + 1
        index += 1
    return length


def redact_sql(text: str) -> str:
    """Mask SQL password literals (before the pairs, which would stop at the quote)."""

    def mask(match: re.Match[str]) -> str:
        quote = match.group("q") or match.group("d")
        return f"{match.group(1)}{quote}{MASK}{quote}"

    return SQL_PASSWORD.sub(mask, text)


def redact_pem(text: str) -> str:
    """Mask the body of every PEM private key block (before the pairs, which would stop at a space)."""
    if "PRIVATE KEY-----" not in text:
        return text

    def mask(match: re.Match[str]) -> str:
        kind, end = match.group("kind"), match.group("end")
        return f"-----BEGIN {kind}PRIVATE KEY-----{MASK}{end or ''}"

    return PEM_PRIVATE_KEY.sub(mask, text)


def redact_patterns(text: str) -> str:
    """Apply the token patterns (bearer/basic credentials, JWTs, AWS key ids)."""
    for pattern, replacement in _OTHER_PATTERNS:
        text = pattern.sub(replacement, text)
    return text
