"""A lean server span and ``http.server.*`` metrics per request (stable HTTP semantic conventions).

What OpenTelemetry's FastAPI instrumentor records, for a fraction of its per-request cost (see
``benchmarks/bench_fastapi.py``): it matches every request against all routes a second time to
name the span, builds ~20 attributes through its generic ASGI getters and records four metric
measurements. Here the route template is read from the scope after routing, the span gets the
attributes the conventions require or recommend and that the scope holds, and
``http.server.active_requests`` is an observable up-down counter fed by plain integers (the same
exported data as a synchronous one, without two SDK measurements per request).

Span: ``SERVER``, named ``{method} {http.route}`` (``{method}`` when no route matched), child of
the current span or of an incoming W3C ``traceparent``; attributes ``http.request.method``
(``_OTHER`` plus ``http.request.method_original`` for unknown methods), ``url.scheme``,
``url.path``, ``url.query`` (values of secret-named parameters masked), ``network.protocol.version``,
``http.route``, ``http.response.status_code``, ``error.type`` (5xx or an
exception), ``commons.correlation_id``; status ERROR on 5xx or an exception.
Metrics: ``http.server.request.duration`` (s; method, scheme, route, status, protocol version,
error type) and ``http.server.active_requests`` (``{request}``; method, scheme).
"""

from __future__ import annotations

import os
import re
import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import unquote_plus

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Histogram, MeterProvider, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from internal_base.redaction import MASK, is_secret_key
from internal_fastapi._middleware import loggable_query, read_request_headers
from internal_fastapi._pagination import route_template
from internal_fastapi._trace import CORRELATION_ATTRIBUTE

__all__ = ["ServerTelemetry", "ServerTelemetryMiddleware", "TelemetrySwitch", "excluded_urls_pattern"]

SCOPE_NAME: Final = "internal_fastapi"
_SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.26.0"
# The HTTP semantic conventions' advice for http.server.request.duration.
_DURATION_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
_KNOWN_METHODS: Final = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}
)
_TRACE_CONTEXT: Final = TraceContextTextMapPropagator()
_BAGGAGE: Final = W3CBaggagePropagator()
_METHOD: Final = "http.request.method"
_SCHEME: Final = "url.scheme"
_VERSION: Final = "network.protocol.version"
_ROUTE: Final = "http.route"
_STATUS: Final = "http.response.status_code"
_ERROR_TYPE: Final = "error.type"
_ERROR: Final = Status(StatusCode.ERROR)


class _Instruments:
    """The two instruments of one meter provider (created once per provider: see ``_instruments``)."""

    def __init__(self, meter_provider: MeterProvider) -> None:
        meter = meter_provider.get_meter(SCOPE_NAME, schema_url=_SCHEMA_URL)
        self.duration: Histogram = meter.create_histogram(
            "http.server.request.duration",
            unit="s",
            description="Duration of HTTP server requests.",
            explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
        )
        # (method, scheme) -> requests in flight. Changed on the event loop by plain integer
        # arithmetic; read by the metric reader's thread through a snapshot of the items.
        self.active: dict[tuple[str, str], int] = {}
        meter.create_observable_up_down_counter(
            "http.server.active_requests",
            callbacks=[self._observe],
            unit="{request}",
            description="Number of active HTTP server requests.",
        )

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(count, {_METHOD: method, _SCHEME: scheme})
            for (method, scheme), count in list(self.active.items())
        ]


_INSTRUMENTS: Final[weakref.WeakKeyDictionary[MeterProvider, _Instruments]] = weakref.WeakKeyDictionary()
_INSTRUMENTS_LOCK: Final = threading.Lock()


def _instruments(meter_provider: MeterProvider) -> _Instruments:
    # One set per provider: an observable instrument registered twice would be reported twice.
    with _INSTRUMENTS_LOCK:
        found = _INSTRUMENTS.get(meter_provider)
        if found is None:
            found = _INSTRUMENTS[meter_provider] = _Instruments(meter_provider)
        return found


class _Request:
    __slots__ = ("attributes", "key", "root_path", "span", "started", "token")

    def __init__(
        self,
        span: trace.Span,
        token: object,
        attributes: dict[str, Any],
        key: tuple[str, str],
        root_path: str,
    ) -> None:
        self.span = span
        self.token = token
        self.attributes = attributes
        self.key = key
        self.root_path = root_path
        self.started = time.perf_counter()


def _route(scope: Scope, root_path: str) -> str | None:
    """The matched route's template, with the paths of the apps it is mounted under (if any)."""
    route = scope.get("route")
    if route is None:
        return None
    template = route_template(scope)
    if template is None:
        return None
    end_root: str = scope.get("root_path", "")
    prefix = end_root[len(root_path) :] if end_root.startswith(root_path) else ""
    if isinstance(route, Mount):  # an app mounted here matched no route of its own
        prefix = prefix.removesuffix(route.path)
    return f"{prefix}{template}" if prefix else template


def excluded_urls_pattern(excluded_urls: str | None) -> re.Pattern[str] | None:
    """One regex of comma-separated ``excluded_urls`` (None: ``OTEL_PYTHON_FASTAPI_EXCLUDED_URLS``,
    else ``OTEL_PYTHON_EXCLUDED_URLS``, as OpenTelemetry's instrumentors read them); None when empty.

    Raises:
        ValueError: One of them is not a valid regular expression (named).
    """
    if excluded_urls is None:
        excluded_urls = os.environ.get(
            "OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", os.environ.get("OTEL_PYTHON_EXCLUDED_URLS", "")
        )
    patterns = [part.strip() for part in excluded_urls.split(",") if part.strip()]
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"excluded_urls: {pattern!r} is not a valid regular expression: {exc}") from None
    return re.compile("|".join(patterns)) if patterns else None


_QUERY_SEPARATORS: Final = re.compile(r"[&;]")


def _masked_query(query: str) -> str:
    """``query`` with the values of secret-named parameters (``token``, ``api%5Fkey`` ...) masked.

    Cheap, on the request path: names only. Free-text secrets in values are left to the exporter
    (``internal_base``'s ``configure_telemetry`` redacts every span before it leaves the process).
    """
    parts = _QUERY_SEPARATORS.split(query)
    masked = False
    for index, part in enumerate(parts):
        key, equals, value = part.partition("=")
        if equals and value and is_secret_key(unquote_plus(key) if "%" in key or "+" in key else key):
            parts[index] = f"{key}={MASK}"
            masked = True
    if not masked:
        return query
    separators = _QUERY_SEPARATORS.findall(query)
    return "".join(part + separator for part, separator in zip(parts, [*separators, ""], strict=True))


def _url(scope: Scope) -> str:
    """The request URL, for ``excluded_urls`` (only built when exclusions are configured)."""
    host = next((value.decode("latin-1") for name, value in scope["headers"] if name == b"host"), None)
    if host is None:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else "localhost"
    query = scope.get("query_string", b"")
    url = f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}{scope['path']}"
    return f"{url}?{query.decode('latin-1')}" if query else url


class ServerTelemetry:
    """Starts and ends the server span and records the metrics of each request.

    Args:
        tracer_provider: Where spans go.
        meter_provider: Where metrics go.
        excluded_urls: URLs not traced nor measured (a regex searched in the full URL), or None.
    """

    def __init__(
        self,
        tracer_provider: TracerProvider,
        meter_provider: MeterProvider,
        excluded_urls: re.Pattern[str] | None,
    ) -> None:
        self.tracer: Tracer = tracer_provider.get_tracer(SCOPE_NAME, schema_url=_SCHEMA_URL)
        instruments = _instruments(meter_provider)
        self.duration = instruments.duration
        self.active = instruments.active
        self.excluded = excluded_urls

    def start(self, scope: Scope, carrier: dict[str, str], correlation_id: str | None) -> _Request | None:
        """Open the request's span and make it current; None when the URL is excluded."""
        if self.excluded is not None and self.excluded.search(_url(scope)):
            return None
        original: str = scope["method"]
        method = original if original in _KNOWN_METHODS else "_OTHER"
        scheme: str = scope.get("scheme") or "http"
        attributes: dict[str, Any] = {_METHOD: method, _SCHEME: scheme}
        version = scope.get("http_version")
        if version:
            attributes[_VERSION] = version
        span_attributes = {**attributes, "url.path": scope["path"]}
        query: bytes = scope.get("query_string", b"")
        if query:
            span_attributes["url.query"] = _masked_query(loggable_query(query))
        if method != original:
            span_attributes["http.request.method_original"] = original
        if correlation_id is not None:
            span_attributes[CORRELATION_ATTRIBUTE] = correlation_id
        parent: Context = otel_context.get_current()
        if carrier:
            if "traceparent" in carrier:  # an invalid one leaves the current span the parent
                parent = _TRACE_CONTEXT.extract(carrier, context=parent)
            if "baggage" in carrier:
                parent = _BAGGAGE.extract(carrier, context=parent)
        span = self.tracer.start_span(
            "HTTP" if method == "_OTHER" else method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes=span_attributes,
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        key = (method, scheme)
        active = self.active
        active[key] = active.get(key, 0) + 1
        return _Request(span, token, attributes, key, scope.get("root_path", ""))

    def finish(self, request: _Request, scope: Scope, status: int, error: BaseException | None) -> None:
        """Name and end the span, record the duration, detach the span's context."""
        try:
            span = request.span
            ending: dict[str, Any] = {_STATUS: status}
            route = _route(scope, request.root_path)
            attributes = request.attributes
            if route is not None:
                ending[_ROUTE] = route
                method = attributes[_METHOD]
                span.update_name(f"{'HTTP' if method == '_OTHER' else method} {route}")
            if error is not None or status >= 500:
                ending[_ERROR_TYPE] = type(error).__qualname__ if error is not None else str(status)
                span.set_status(_ERROR)
                if error is not None:
                    span.record_exception(error)
            span.set_attributes(ending)
            attributes.update(ending)
            self.duration.record(max(time.perf_counter() - request.started, 0.0), attributes)
            self.active[request.key] -= 1
            span.end()
        finally:
            otel_context.detach(request.token)  # type: ignore[arg-type]


class TelemetrySwitch:
    """Per app: the :class:`ServerTelemetry` in use (None: off) and who records it.

    Attributes:
        server: The telemetry recorder, or None when the app is not instrumented.
        in_stack: The commons middleware records it (``install()`` ran); else the outer
            :class:`ServerTelemetryMiddleware` does.
        wrapped: :class:`ServerTelemetryMiddleware` wraps the app's middleware stack.
        native: FastAPI's own ``tracing``/``metrics`` settings, saved while they are turned off.
    """

    __slots__ = ("in_stack", "native", "server", "wrapped")

    def __init__(self) -> None:
        self.server: ServerTelemetry | None = None
        self.in_stack = False
        self.wrapped = False
        self.native: dict[str, Any] | None = None


class ServerTelemetryMiddleware:
    """The outermost layer of an instrumented app that ``install()`` did not set up.

    Args:
        app: The app's middleware stack.
        switch: The app's switch; the layer records nothing while it is off or while the
            commons middleware records the telemetry.
    """

    def __init__(self, app: ASGIApp, switch: TelemetrySwitch) -> None:
        self.app = app
        self.switch = switch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        server = self.switch.server
        if server is None or self.switch.in_stack or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = server.start(scope, read_request_headers(scope)[2], None)
        if request is None:
            await self.app(scope, receive, send)
            return
        status = 500
        error: BaseException | None = None

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except BaseException as exc:
            error = exc
            raise
        finally:
            server.finish(request, scope, status, error)
