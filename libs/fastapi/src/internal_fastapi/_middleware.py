"""Pure ASGI middleware: correlation context, access log and last-resort error handling.

None of them uses ``BaseHTTPMiddleware``: they wrap ``send`` and never buffer bodies, so
streaming responses, background tasks and context variables behave as without them.
Order, outermost first: correlation → request logging → error handling → the app.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Collection
from typing import Final
from urllib.parse import unquote_plus

from opentelemetry import context as otel_context
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from internal_base.context import (
    CORRELATION_ID_HEADER,
    REQUEST_ID_HEADER,
    correlation_scope,
    is_valid_correlation_id,
)
from internal_base.redaction import MASK, is_secret_key, redact_url
from internal_fastapi._errors import ErrorMapper, default_error_mapper
from internal_fastapi._trace import MAX_TRACE_HEADER, attach_trace, mark_span

__all__ = [
    "CorrelationIdMiddleware",
    "ErrorHandlingMiddleware",
    "RequestLoggingMiddleware",
    "is_valid_id",
]

# What a log line may carry as is: printable characters (str.isprintable: no Unicode "Other" or
# "Separator" but the ASCII space, so no control, format, surrogate or line/paragraph separator).
# Anything else could split the line for a log shipper (NEL, U+2028 ...) or disguise it (bidi).
_UNPRINTABLE: Final = re.compile(r"[^ -~]")
# Raw query bytes outside visible ASCII (a query is sent percent-encoded; anything else is hostile).
_QUERY_UNSAFE: Final = re.compile(rb"[^\x21-\x7e]")
# Longest path (with query) and method put into an access record: a client may send a 64 KiB
# URL, which would otherwise become a 64 KiB log line on every request it repeats.
MAX_TARGET: Final = 2048
_MAX_METHOD: Final = 32
_TRACE_HEADERS: Final = frozenset({b"traceparent", b"tracestate", b"baggage"})
_CORRELATION: Final = CORRELATION_ID_HEADER.lower().encode("latin-1")
_REQUEST: Final = REQUEST_ID_HEADER.lower().encode("latin-1")
_ID_HEADERS: Final = frozenset({_CORRELATION, _REQUEST})


def is_valid_id(value: str | None, *, max_length: int = 128) -> bool:
    """Tell whether an incoming correlation/request ID may be reused as is.

    The rule of :func:`internal_base.context.is_valid_correlation_id`, shared by every carrier:
    1..``max_length`` characters of ``A-Z a-z 0-9 . _ : + = @ / -`` (no spaces, quotes or
    control characters, so the ID is safe in headers and log lines).
    """
    return is_valid_correlation_id(value, max_length=max_length)


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char.isprintable():
        return char
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))


def loggable(text: str) -> str:
    """``text`` with every unprintable character percent-encoded (its UTF-8 bytes)."""
    if text.isascii() and text.isprintable():  # the common case, checked in C
        return text
    return _UNPRINTABLE.sub(_escape_char, text)


def bounded(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[+{len(text) - limit} chars]"


def loggable_query(query: bytes) -> str:
    return _QUERY_UNSAFE.sub(lambda m: b"%%%02X" % m.group()[0], query).decode("ascii")


_QUERY_SEPARATORS: Final = re.compile(r"([&;])")


def mask_encoded_secret_names(query: str) -> str:
    """Mask values whose key is a secret name once decoded (``api%5Fkey`` is ``api_key`` to the app).

    ``redact_url`` reads key names as written; the app reads them percent-decoded, so a client
    that encodes ``_`` or a letter would otherwise get its secret logged in clear.
    """
    if "%" not in query and "+" not in query:
        return query
    parts = _QUERY_SEPARATORS.split(query)
    for index in range(0, len(parts), 2):
        key, equals, value = parts[index].partition("=")
        if equals and value and key != unquote_plus(key) and is_secret_key(unquote_plus(key)):
            parts[index] = f"{key}={MASK}"
    return "".join(parts)


_CONFLICT: Final = "\n"  # never a valid ID: marks a header sent twice with different values


def _single(seen: str | None, value: str) -> str:
    # An ID header sent twice with different values (a proxy's and a client's, or a forged one
    # appended) is trusted in neither: components that keep the first and those that keep the
    # last would otherwise log the same request under different IDs.
    return value if seen is None or seen == value else _CONFLICT


def _add_trace_header(carrier: dict[str, str], name: str, value: str) -> None:
    # W3C: repeated tracestate/baggage headers are one list (combined as RFC 9110 says); two
    # different traceparents name two parents, so neither is trusted and the request starts a trace.
    seen = carrier.get(name)
    if seen is None:
        carrier[name] = value
    elif name == "traceparent":
        carrier[name] = _single(seen, value)
    else:
        carrier[name] = f"{seen},{value}"


def new_id() -> str:
    """A fresh ID for a request that brought none: 32 lowercase hex characters (128 random bits)."""
    return os.urandom(16).hex()  # what uuid4().hex is made of, without building a UUID


def read_request_headers(scope: Scope) -> tuple[str | None, str | None, dict[str, str]]:
    """The incoming correlation ID, request ID and W3C trace headers of ``scope``.

    An ID header sent twice with different values reads as an invalid ID; repeated
    ``tracestate``/``baggage`` headers are combined; conflicting ``traceparent`` headers are
    dropped; trace header values longer than 8192 characters are ignored.
    """
    carrier: dict[str, str] = {}
    incoming_cid = incoming_rid = None
    for name, value in scope["headers"]:
        if name == _CORRELATION:
            incoming_cid = _single(incoming_cid, value.decode("latin-1"))
        elif name == _REQUEST:
            incoming_rid = _single(incoming_rid, value.decode("latin-1"))
        elif name in _TRACE_HEADERS and len(value) <= MAX_TRACE_HEADER:
            _add_trace_header(carrier, name.decode("latin-1"), value.decode("latin-1"))
    if carrier and carrier.get("traceparent") == _CONFLICT:
        del carrier["traceparent"]
    return incoming_cid, incoming_rid, carrier


def id_headers(correlation_id: str, request_id: str) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
    """The raw response headers echoing both IDs (validated IDs are ASCII)."""
    return (_CORRELATION, correlation_id.encode("latin-1")), (_REQUEST, request_id.encode("latin-1"))


def add_id_headers(message: Message, ids: tuple[tuple[bytes, bytes], tuple[bytes, bytes]]) -> None:
    """Set both ID headers on an ``http.response.start`` message, replacing the app's own."""
    headers = message.get("headers")
    if not headers:
        message["headers"] = list(ids)
        return
    if not isinstance(headers, list):
        headers = message["headers"] = list(headers)
    for index in range(len(headers) - 1, -1, -1):
        if headers[index][0].lower() in _ID_HEADERS:
            del headers[index]
    headers.extend(ids)


class CorrelationIdMiddleware:
    """Run each request in a correlation scope and echo the IDs on the response.

    Reads ``X-Correlation-ID`` and ``X-Request-ID`` (reused when valid and not sent twice with
    different values, else generated), stores both IDs in ``request.state`` and adds both headers
    to every response, error responses included. Trace context: the request joins the current
    span (a server span opened by the FastAPI instrumentor, FastAPI's own telemetry or any
    outer middleware); only a request carrying a W3C ``traceparent`` of another trace (or with
    no span current) continues that trace here. ``tracestate`` and ``baggage`` are restored
    (repeated headers combined, conflicting ``traceparent`` headers ignored). The correlation ID
    is set as the ``commons.correlation_id`` attribute of the current span when it records.

    Args:
        app: The wrapped ASGI app.
        trust_incoming: Reuse valid incoming IDs (False: always generate new ones).
        max_length: Longest accepted incoming ID.
    """

    def __init__(self, app: ASGIApp, *, trust_incoming: bool = True, max_length: int = 128) -> None:
        self.app = app
        self.trust_incoming = trust_incoming
        self.max_length = max_length

    def accept(self, value: str | None) -> str | None:
        """``value`` when incoming IDs are trusted and it is a valid ID, else None."""
        if value is not None and self.trust_incoming and is_valid_id(value, max_length=self.max_length):
            return value
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming_cid, incoming_rid, carrier = read_request_headers(scope)
        correlation_id = self.accept(incoming_cid) or new_id()
        request_id = self.accept(incoming_rid) or new_id()
        state = scope.setdefault("state", {})
        state["correlation_id"] = correlation_id
        state["request_id"] = request_id
        ids = id_headers(correlation_id, request_id)

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                add_id_headers(message, ids)
            await send(message)

        token = attach_trace(carrier) if carrier else None
        try:
            with correlation_scope(correlation_id, request_id):
                mark_span(correlation_id)
                await self.app(scope, receive, send_with_ids)
        finally:
            if token is not None:
                otel_context.detach(token)  # type: ignore[arg-type]


class RequestLoggingMiddleware:
    """Log one line per HTTP request: method, path (secret query values masked), status, duration.

    Unprintable characters are percent-escaped and the path with its query is cut to 2048
    characters (the method to 32), with a ``...[+N chars]`` marker.

    Records carry ``http_method``, ``http_path``, ``http_status``, ``duration_ms`` and
    ``http_aborted`` as extra fields; ``correlation_id`` and ``request_id`` are stamped once, as
    on every other record, by ``internal_base.logging.ContextFilter`` (the line is written inside
    the request's correlation scope; as extras too, that filter would keep a second copy of each
    as ``extra_correlation_id``/``extra_request_id``). 5xx are logged at ERROR, the rest at
    INFO; a response cut short by an exception after it started is logged at ERROR with its
    sent status, ``http_aborted=True`` and `` aborted`` at the end of the line.

    Args:
        app: The wrapped ASGI app.
        logger: Logger name (default ``internal_fastapi.access``).
        exclude_paths: Exact paths that are not logged (health probes).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        logger: str = "internal_fastapi.access",
        exclude_paths: Collection[str] = (),
    ) -> None:
        self.app = app
        self.logger = logging.getLogger(logger)
        self.exclude_paths = frozenset(exclude_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http" or scope["path"] in self.exclude_paths:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_capturing_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        aborted = True
        try:
            await self.app(scope, receive, send_capturing_status)
            aborted = False
        finally:
            log_request(self.logger, scope, status, (time.perf_counter() - started) * 1000, aborted=aborted)


def log_request(
    logger: logging.Logger, scope: Scope, status: int, duration_ms: float, *, aborted: bool
) -> None:
    """Write the access line of one request (see :class:`RequestLoggingMiddleware`)."""
    # An exception that escapes after the status line was sent cut the response short: the
    # client never got the 200 it announced, so the line must not read as a success.
    level = logging.ERROR if status >= 500 or aborted else logging.INFO
    if not logger.isEnabledFor(level):
        return
    # Escaped before they enter the record, so no formatter or shipper ever sees a raw
    # line break: text, JSON (which keeps U+2028 raw) and whatever else is configured.
    # "%", "?" and " " re-encoded first: a decoded "%E2%80%A8", "a?b=1" or "/x 200 1.0ms" in
    # the path would otherwise read like this log's own escapes, a query or another field.
    path = loggable(scope["path"].replace("%", "%25").replace("?", "%3F").replace(" ", "%20"))
    query: bytes = scope.get("query_string", b"")
    masked = mask_encoded_secret_names(loggable_query(query)) if query else ""
    target = redact_url(f"{path}?{masked}") if query else path
    # Cut after redaction, so a cut never turns a masked value back into a partial secret.
    target = bounded(target, MAX_TARGET)
    method = bounded(loggable(scope["method"]), _MAX_METHOD)
    logger.log(
        level,
        "%s %s %d %.1fms%s",
        method,
        target,
        status,
        duration_ms,
        " aborted" if aborted else "",
        extra={
            "http_aborted": aborted,
            "http_method": method,
            "http_path": target,
            "http_status": status,
            "duration_ms": round(duration_ms, 3),
        },
    )


class ErrorHandlingMiddleware:
    """Turn any exception that escapes the app into a problem+json response.

    Runs inside the correlation middleware, so the body carries the correlation ID and the
    response gets the ID headers. The body never contains the exception's message or
    traceback unless its :class:`ErrorMapper` rule says so; the traceback is logged. When the
    response had already started, the exception is logged and re-raised (nothing can be sent).

    Args:
        app: The wrapped ASGI app.
        mapper: Exception → status rules (default: :func:`default_error_mapper`).
    """

    def __init__(self, app: ASGIApp, *, mapper: ErrorMapper | None = None) -> None:
        self.app = app
        self.mapper = mapper if mapper is not None else default_error_mapper()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            if started:
                logging.getLogger("internal_fastapi.errors").error(
                    "exception after the response started", exc_info=exc
                )
                raise
            response = self.mapper.response(exc, instance=scope["path"])
            await response(scope, receive, send)
