"""Client spans and the ``http.client.request.duration`` metric, on after ``instrument()``.

One CLIENT span per logical call (``client.send``: every retry, redirect hop and auth round trip
inside it), following the stable HTTP semantic conventions. Each physical attempt is an
``internal_http.attempt`` event on that span, recorded by :class:`RetryTransport`. The span is
current while the call runs, so the ``traceparent`` the context hook writes carries its span id.

Off (the default) the client's ``send`` checks one boolean and nothing else runs.
"""

from __future__ import annotations

import re
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Final

import httpx
from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import Histogram
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from internal_base.context import get_correlation_id
from internal_base.redaction import MASK, redact_text
from internal_base.telemetry import current_telemetry, inject_trace

from ._logging import mask_url_secrets, safe_url
from ._origin import origin_of

__all__ = [
    "ATTEMPT_EVENT",
    "CALL_EXTENSION",
    "DURATION_METRIC",
    "STATE",
    "TelemetryCall",
    "error_type",
    "instrument",
    "is_instrumented",
    "span_url",
    "traced_send",
    "uninstrument",
]

#: The stable semconv client duration histogram (seconds).
DURATION_METRIC: Final = "http.client.request.duration"
#: Name of the span event recorded for every physical attempt.
ATTEMPT_EVENT: Final = "internal_http.attempt"
#: ``request.extensions`` key holding the :class:`TelemetryCall` of an instrumented call.
CALL_EXTENSION: Final = "internal_http.telemetry_call"

_SCOPE: Final = "internal_http"
_SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.26.0"
# Semconv's advisory buckets for http.client.request.duration.
_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
_KNOWN_METHODS: Final = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}
)
_USERINFO: Final = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*://)[^/?#]*@")
_ACCEPTED_KWARGS: Final = ("meter_provider", "tracer_provider")
# Longest exception text put on a span (the exporter's own cut), and how far past it is redacted:
# beyond the reach of every secret pattern, so a secret across the cut is masked before it is made.
_MAX_TEXT: Final = 100_000
_CUT_MARGIN: Final = 4096

try:
    _VERSION = version("internal-http")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    _VERSION = "0.0.0+source"


@dataclass
class _State:
    enabled: bool = False
    tracer: Tracer | None = None
    histogram: Histogram | None = None
    # The providers the tracer and histogram came from (reused when instrument() sees them again).
    providers: tuple[object, object] | None = None
    # instrument() without providers follows internal_base's configuration: the Telemetry it saw
    # (None: OTel globals); a later configure_telemetry() is picked up by the next call.
    follow: bool = False
    seen: object = None


STATE: Final = _State()
_LOCK: Final = threading.Lock()


def is_instrumented() -> bool:
    """Whether ``instrument()`` is in effect."""
    return STATE.enabled


def instrument(**kwargs: Any) -> None:
    """Turn on client spans and the duration metric for every client made by ``create_client``.

    Idempotent; a later call with other providers switches to them. Without providers it follows
    ``internal_base.telemetry.configure_telemetry``: a later configuration is used from the next
    call on (calls in flight finish on the providers they started with). Clients created before
    the call are covered too.

    Args:
        **kwargs: ``tracer_provider`` and ``meter_provider``; by default the providers of
            ``internal_base.telemetry.current_telemetry()``, else OpenTelemetry's global ones.

    Raises:
        TypeError: An unknown keyword, or a provider that is not an OpenTelemetry provider.
    """
    unknown = sorted(set(kwargs) - set(_ACCEPTED_KWARGS))
    if unknown:
        raise TypeError(
            f"internal_http.telemetry.instrument() got unexpected keyword arguments {unknown}; "
            f"accepted: {', '.join(_ACCEPTED_KWARGS)}"
        )
    tracer_provider = kwargs.get("tracer_provider")
    meter_provider = kwargs.get("meter_provider")
    current = current_telemetry()
    follow = tracer_provider is None and meter_provider is None
    if tracer_provider is None:
        tracer_provider = current.tracer_provider if current is not None else trace.get_tracer_provider()
    if meter_provider is None:
        meter_provider = current.meter_provider if current is not None else metrics.get_meter_provider()
    if not isinstance(tracer_provider, trace.TracerProvider):
        raise TypeError(
            f"tracer_provider must be an opentelemetry TracerProvider, got {type(tracer_provider).__name__}"
        )
    if not isinstance(meter_provider, metrics.MeterProvider):
        raise TypeError(
            f"meter_provider must be an opentelemetry MeterProvider, got {type(meter_provider).__name__}"
        )
    with _LOCK:
        _bind(tracer_provider, meter_provider)
        STATE.follow = follow
        STATE.seen = current
        STATE.enabled = True


def _bind(tracer_provider: trace.TracerProvider, meter_provider: metrics.MeterProvider) -> None:
    """Take the tracer and histogram from these providers (the caller holds ``_LOCK``)."""
    if STATE.providers is not None and STATE.providers == (tracer_provider, meter_provider):
        return
    STATE.tracer = tracer_provider.get_tracer(_SCOPE, _VERSION, schema_url=_SCHEMA_URL)
    meter = meter_provider.get_meter(_SCOPE, _VERSION, schema_url=_SCHEMA_URL)
    STATE.histogram = meter.create_histogram(
        DURATION_METRIC,
        unit="s",
        description="Duration of HTTP client requests.",
        explicit_bucket_boundaries_advisory=list(_BUCKETS),
    )
    STATE.providers = (tracer_provider, meter_provider)


def _follow_configuration() -> None:
    """Switch to the providers of a ``configure_telemetry`` made after ``instrument()``."""
    with _LOCK:
        current = current_telemetry()
        if not STATE.enabled or not STATE.follow or current is None or current is STATE.seen:
            return
        _bind(current.tracer_provider, current.meter_provider)
        STATE.seen = current


def uninstrument() -> None:
    """Turn client spans and metrics off again (idempotent); calls in flight finish their spans."""
    with _LOCK:
        STATE.enabled = False


class TelemetryCall:
    """The span of one logical call, shared by its hops through ``request.extensions``.

    A call answered by its first request gets no event (the span is that request); once a
    second request follows (a retry, a redirect hop), every request is an event, the first too.
    """

    __slots__ = ("first_url", "pending", "sent", "span")

    def __init__(self, span: Span, first_url: httpx.URL) -> None:
        self.span = span
        self.first_url = first_url
        self.sent = 0  # physical requests sent so far, all hops together
        # The first request's outcome, written as an event only if another request follows.
        self.pending: tuple[int, float, int | None, BaseException | None, int] | None = None

    def attempt(
        self,
        request: httpx.Request,
        attempt: int,
        duration: float,
        *,
        status: int | None = None,
        error: BaseException | None = None,
        retry_in: float | None = None,
    ) -> None:
        """Record one physical attempt: its answer or failure, and the wait before the next."""
        index = self.sent
        self.sent = index + 1
        if index == 0 and retry_in is None:
            self.pending = (attempt, duration, status, error, time.time_ns())
            return
        pending = self.pending
        if pending is not None:
            self.pending = None
            first_attempt, first_duration, first_status, first_error, at = pending
            self._event(None, first_attempt, first_duration, first_status, first_error, None, 0, at)
        self._event(request, attempt, duration, status, error, retry_in, index, None)

    def _event(
        self,
        request: httpx.Request | None,
        attempt: int,
        duration: float,
        status: int | None,
        error: BaseException | None,
        retry_in: float | None,
        index: int,
        timestamp: int | None,
    ) -> None:
        attributes: dict[str, AttributeValue] = {
            "internal_http.attempt": attempt,
            "internal_http.attempt.duration": duration,
        }
        if index:
            attributes["http.request.resend_count"] = index
        if status is not None:
            attributes["http.response.status_code"] = status
        if error is not None:
            attributes["error.type"] = error_type(error)
        if retry_in is not None:
            attributes["internal_http.retry_in"] = retry_in
        if request is not None and request.url != self.first_url:  # a redirect hop
            attributes["url.full"] = span_url(request)
        self.span.add_event(ATTEMPT_EVENT, attributes, timestamp)


def error_type(exc: BaseException) -> str:
    """Semconv ``error.type`` of an exception: its class name qualified by its public module."""
    cls = type(exc)
    module = cls.__module__
    if module == "builtins":
        return cls.__qualname__
    public = []
    for part in module.split("."):
        if part.startswith("_"):
            break
        public.append(part)
    return ".".join((*public, cls.__qualname__))


def span_url(request: httpx.Request) -> str:
    """``url.full`` of ``request`` with its credentials masked (``***``), as the logs show it.

    The whole userinfo (user name too) and the values of secret query parameters are masked:
    those the redaction policy names (``token``, ``api_key``, ``sig``, ``Signature``,
    ``X-Goog-Signature``, ``AWSAccessKeyId``...) and those an auth strategy marked or registered.
    """
    url = request.url
    if not url.query and not url.userinfo and not url.fragment:
        # Nothing to mask by name; free-text patterns (a token in the path) still apply, to the path
        # alone: the policy's patterns cost far more on a whole URL.
        path = url.path
        masked = redact_text(path)
        return str(url) if masked == path else f"{url.scheme}://{url.netloc.decode('ascii')}{masked}"
    text = safe_url(request)
    if url.userinfo:
        text = _USERINFO.sub(rf"\g<1>{MASK}@", text, count=1)
    return text


Send = Callable[..., Awaitable[httpx.Response]]


def _redact_cut(text: str) -> str:
    """``redact_text`` of at most the first ``_MAX_TEXT`` characters (bounded work), marked when cut."""
    if len(text) <= _MAX_TEXT:
        return redact_text(text)
    kept = redact_text(text[: _MAX_TEXT + _CUT_MARGIN])[:_MAX_TEXT]
    return f"{kept}... <{len(text) - _MAX_TEXT} characters cut>"


async def traced_send(send: Send, request: httpx.Request, kwargs: dict[str, Any]) -> httpx.Response:
    """Run ``send(request, **kwargs)`` inside a CLIENT span; record the duration metric."""
    if STATE.follow and current_telemetry() is not STATE.seen:
        _follow_configuration()
    tracer, histogram = STATE.tracer, STATE.histogram
    if tracer is None or histogram is None:  # pragma: no cover - instrument() sets both first
        return await send(request, **kwargs)
    method = request.method
    url = request.url
    known = method in _KNOWN_METHODS
    metric_attributes: dict[str, AttributeValue] = {
        "http.request.method": method if known else "_OTHER",
        "server.address": url.host,
    }
    port = origin_of(url)[2]
    if port is not None:
        metric_attributes["server.port"] = port
    attributes = dict(metric_attributes)
    if not known:
        attributes["http.request.method_original"] = method
    attributes["url.full"] = span_url(request)
    correlation_id = get_correlation_id()
    if correlation_id is not None:
        attributes["commons.correlation_id"] = correlation_id
    span = tracer.start_span(method if known else "HTTP", kind=SpanKind.CLIENT, attributes=attributes)
    call = TelemetryCall(span, url)
    request.extensions[CALL_EXTENSION] = call
    # A provider that records nothing may return an invalid span (the NoOpTracer of
    # opentelemetry-api < 1.31): only a valid span replaces the caller's, whose trace must go out.
    valid = span.get_span_context().is_valid
    token = otel_context.attach(trace.set_span_in_context(span)) if valid else None
    started = time.perf_counter()
    try:
        if "traceparent" in request.headers:
            # The caller's own header would make the server a sibling of this span: replace it.
            inject_trace(request.headers)
        response = await send(request, **kwargs)
    except BaseException as exc:
        _failed(span, exc, request, metric_attributes)
        histogram.record(time.perf_counter() - started, metric_attributes)
        raise
    else:
        _answered(span, response, metric_attributes)
        histogram.record(time.perf_counter() - started, metric_attributes)
        return response
    finally:
        if token is not None:
            otel_context.detach(token)
        if call.sent > 1:
            span.set_attribute("http.request.resend_count", call.sent - 1)
        span.end()
        call.pending = None
        request.extensions.pop(CALL_EXTENSION, None)


def _answered(span: Span, response: httpx.Response, metric_attributes: dict[str, AttributeValue]) -> None:
    status = response.status_code
    attributes: dict[str, AttributeValue] = {"http.response.status_code": status}
    protocol = response.http_version
    if protocol.startswith("HTTP/"):
        attributes["network.protocol.version"] = protocol[5:]
    if status >= 400:
        attributes["error.type"] = str(status)
        span.set_status(Status(StatusCode.ERROR))
    metric_attributes.update(attributes)
    span.set_attributes(attributes)


def _message(exc: BaseException) -> str:
    """``str(exc)``; a placeholder when its ``__str__`` fails (the caller must get its own exception)."""
    try:
        return str(exc)
    except Exception:  # any failure of a foreign __str__
        return f"<{type(exc).__name__}: str() failed>"


def _failed(
    span: Span, exc: BaseException, request: httpx.Request, metric_attributes: dict[str, AttributeValue]
) -> None:
    kind = error_type(exc)
    metric_attributes["error.type"] = kind
    span.set_attribute("error.type", kind)
    # Cut first, then redact the start only: a megabyte message must not cost the caller seconds of
    # pattern matching (nor reach the exporter whole). The event is written here rather than by
    # record_exception, which would format and keep the whole text again.
    # The request's marked query names and a lone user name are masked too (HTTPStatusError names the URL).
    message = mask_url_secrets(_redact_cut(_message(exc)), request)
    stacktrace = mask_url_secrets(_redact_cut("".join(traceback.format_exception(exc))), request)
    span.add_event(
        "exception",
        {"exception.type": kind, "exception.message": message, "exception.stacktrace": stacktrace},
    )
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"))
