"""Redacted request/response logging.

Every function here formats eagerly, so callers guard with ``logger.isEnabledFor`` to keep
the success path free of formatting work when the level is off.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping

import httpx

from internal_base.redaction import MASK, redact_headers, redact_text, redact_url, register_secret_key

__all__ = [
    "SECRET_NAMES_EXTENSION",
    "RedactHttpxFilter",
    "install_httpx_filter",
    "log_exception",
    "log_response",
    "logger",
    "mark_secret",
    "register_secret_query_param",
    "safe_headers",
    "safe_url",
]

logger = logging.getLogger("internal_http")

#: ``request.extensions`` key holding extra header/query names whose values are secret
#: (set by :class:`internal_http.ApiKeyAuth`, usable by custom auth strategies).
SECRET_NAMES_EXTENSION = "internal_http.secret_names"  # noqa: S105


# Query-parameter names registered as secret by auth strategies (names only, never values);
# used by the filter on httpx's own logger, which has no access to the request's extensions.
_secret_query_names: set[str] = set()


def register_secret_query_param(name: str) -> None:
    """Mask ``name``'s value in every URL this library (and httpx's own logger) writes."""
    _secret_query_names.add(name.lower())


class RedactHttpxFilter(logging.Filter):
    """Masks secrets in the URLs that httpx's own ``HTTP Request: ...`` INFO lines carry."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite URL arguments of ``record`` with secrets masked; never drops a record."""
        args = record.args
        if isinstance(args, tuple) and any(isinstance(arg, httpx.URL) for arg in args):
            names = tuple(_secret_query_names)
            record.args = tuple(
                _mask_query(_redact_url(str(arg)), names) if isinstance(arg, httpx.URL) else arg
                for arg in args
            )
        return True


_HTTPX_FILTER = RedactHttpxFilter()

# ``scheme://user@`` with no password: httpx sends that userinfo as Basic credentials, and it
# is often a token (``https://<token>@host``), so the lone username is masked too.
_LONE_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*://)[^:/?#@]+@")


def _redact_url(url: str) -> str:
    return _LONE_USERINFO.sub(rf"\g<1>{MASK}@", redact_url(url), count=1)


def install_httpx_filter() -> None:
    """Attach :class:`RedactHttpxFilter` to the ``httpx`` logger (idempotent)."""
    httpx_logger = logging.getLogger("httpx")
    if _HTTPX_FILTER not in httpx_logger.filters:
        httpx_logger.addFilter(_HTTPX_FILTER)


def mark_secret(request: httpx.Request, name: str) -> None:
    """Record that ``name`` (a header or query parameter) carries a secret on ``request``."""
    names: tuple[str, ...] = request.extensions.get(SECRET_NAMES_EXTENSION, ())
    if name.lower() not in names:
        request.extensions[SECRET_NAMES_EXTENSION] = (*names, name.lower())
    if name in request.headers:
        # A header is registered process-wide too, so a server echoing it back or httpcore's DEBUG
        # header tuples are masked. Query names are not: redirect stripping must keep another
        # client's ordinary ``key=`` parameter, and query values are masked by name above.
        register_secret_key(name)


def _secret_names(request: httpx.Request) -> tuple[str, ...]:
    names: tuple[str, ...] = request.extensions.get(SECRET_NAMES_EXTENSION, ())
    return names


def safe_url(request: httpx.Request) -> str:
    """Return the request URL with userinfo credentials and secret query values masked."""
    return _mask_query(_redact_url(str(request.url)), (*_secret_names(request), *_secret_query_names))


_MIN_BARE_SECRET = 6  # a shorter marked value is not searched for in free text
# ``scheme://user@`` anywhere in free text (an exception message naming a URL).
_ANY_USERINFO = re.compile(r"""([a-zA-Z][a-zA-Z0-9+.\-]*://)[^\s/?#@'"<>]+@""")


def mask_url_secrets(text: str, request: httpx.Request) -> str:
    """Mask, in free text, what ``safe_url`` masks in ``request``'s URL, and the values auth set.

    For exception messages and stack traces (after ``redact_text``, which knows neither the query
    names auth strategies mark nor a lone user name): userinfo, secret query values by name, and
    the bare values of the headers and query parameters marked secret on ``request`` (a custom
    auth's error repeating its token), when long enough not to be an ordinary word.
    """
    if "://" in text:
        text = _ANY_USERINFO.sub(rf"\g<1>{MASK}@", text)
    marked = _secret_names(request)
    if marked:
        params = request.url.params
        for name in marked:
            for value in (*request.headers.get_list(name), *params.get_list(name)):
                if len(value) >= _MIN_BARE_SECRET and value in text:
                    text = text.replace(value, MASK)
    return _mask_query(text, (*marked, *_secret_query_names))


def _mask_query(text: str, names: tuple[str, ...]) -> str:
    for name in names:
        text = re.sub(rf"([?&]{re.escape(name)}=)[^&#\s]*", rf"\g<1>{MASK}", text, flags=re.IGNORECASE)
    return text


def safe_headers(headers: Mapping[str, str], extra_secret: Iterable[str] = ()) -> dict[str, str]:
    """Return ``headers`` with credentials, cookies, API keys and ``extra_secret`` names masked."""
    masked = redact_headers(dict(headers))
    lowered = {name.lower() for name in extra_secret}
    if lowered:
        masked = {key: MASK if key.lower() in lowered else value for key, value in masked.items()}
    return masked


def log_response(
    request: httpx.Request,
    response: httpx.Response,
    *,
    attempt: int,
    duration: float,
    level: int = logging.DEBUG,
    log_headers: bool = False,
) -> None:
    """Log one completed attempt (call only when ``logger.isEnabledFor(level)``)."""
    url = safe_url(request)
    extra: dict[str, object] = {
        "http_method": request.method,
        "http_url": url,
        "http_status": response.status_code,
        "http_duration_ms": round(duration * 1000, 3),
        "http_attempt": attempt,
    }
    if log_headers:
        secret = _secret_names(request)
        extra["http_request_headers"] = safe_headers(request.headers, secret)
        extra["http_response_headers"] = safe_headers(response.headers, secret)
    logger.log(
        level,
        "%s %s -> %d in %.1fms (attempt %d)",
        request.method,
        url,
        response.status_code,
        duration * 1000,
        attempt,
        extra=extra,
    )


def log_exception(
    request: httpx.Request,
    exc: BaseException,
    *,
    attempt: int,
    duration: float,
    level: int = logging.WARNING,
) -> None:
    """Log one attempt that raised (call only when ``logger.isEnabledFor(level)``)."""
    url = safe_url(request)
    error = _mask_query(redact_text(f"{type(exc).__name__}: {exc}"), _secret_names(request))
    logger.log(
        level,
        "%s %s -> %s in %.1fms (attempt %d)",
        request.method,
        url,
        error,
        duration * 1000,
        attempt,
        extra={
            "http_method": request.method,
            "http_url": url,
            "http_error": error,
            "http_duration_ms": round(duration * 1000, 3),
            "http_attempt": attempt,
        },
    )
