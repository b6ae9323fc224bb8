"""Server spans and ``http.server.*`` metrics through OpenTelemetry's FastAPI instrumentor.

``instrument(app)`` instruments one app; ``instrument()`` every app given to
:func:`internal_fastapi.install` (before or after the call). The instrumentor's middleware wraps
the whole stack, so the commons middleware, the access log and the error logs run inside the
server span. Providers: ``internal_base.telemetry.current_telemetry()``'s when configured, else
OpenTelemetry's globals. HTTP semantic conventions: the stable ones (``http.server.request.duration``
in seconds, ``http.server.active_requests``, ``http.request.method`` ...), unless
``OTEL_SEMCONV_STABILITY_OPT_IN`` names an ``http`` mode itself.
"""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass, field
from typing import Final

from fastapi import FastAPI
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from internal_base.telemetry import current_telemetry

# The instrumentor is imported when first used: importing internal_fastapi stays cheap.

__all__ = ["instrument", "instrument_installed", "is_instrumented", "uninstrument"]

_FLAG: Final = "_is_instrumented_by_opentelemetry"


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    everywhere: bool = False
    excluded_urls: str | None = None
    installed: weakref.WeakSet[FastAPI] = field(default_factory=weakref.WeakSet)
    instrumented: weakref.WeakSet[FastAPI] = field(default_factory=weakref.WeakSet)


_STATE: Final = _State()


def _use_stable_http_semconv() -> None:
    """Emit the stable HTTP names unless ``OTEL_SEMCONV_STABILITY_OPT_IN`` chose an http mode."""
    from opentelemetry.instrumentation import _semconv

    stability = _semconv._OpenTelemetrySemanticConventionStability
    stability._initialize()  # type: ignore[no-untyped-call]
    chosen = [item.strip() for item in os.environ.get(_semconv.OTEL_SEMCONV_STABILITY_OPT_IN, "").split(",")]
    if "http" in chosen or "http/dup" in chosen:
        return
    with stability._lock:
        stability._OTEL_SEMCONV_STABILITY_SIGNAL_MAPPING[_semconv._OpenTelemetryStabilitySignalType.HTTP] = (
            _semconv._StabilityMode.HTTP
        )


def _instrument_app(
    app: FastAPI,
    excluded_urls: str | None,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> None:
    if getattr(app, _FLAG, False):
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    _use_stable_http_semconv()
    telemetry = current_telemetry()
    if telemetry is not None:
        tracer_provider = tracer_provider or telemetry.tracer_provider
        meter_provider = meter_provider or telemetry.meter_provider
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        excluded_urls=excluded_urls,
        exclude_spans=["receive", "send"],  # one span per request, not one per ASGI message
    )
    app.middleware_stack = None  # rebuilt by the next request, now inside the server span
    _STATE.instrumented.add(app)


def instrument(
    app: FastAPI | None = None,
    *,
    excluded_urls: str | None = None,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> None:
    """Turn on server spans and ``http.server.*`` metrics; idempotent.

    Each request gets a ``SERVER`` span (continuing an incoming ``traceparent``) carrying the
    ``commons.correlation_id`` attribute, and records ``http.server.request.duration`` (s) and
    ``http.server.active_requests``. Log records written during the request (the access line,
    500 error logs) carry its ``trace_id`` and ``span_id``.

    Args:
        app: One app to instrument now. None: every app given to
            :func:`internal_fastapi.install`, already or later.
        excluded_urls: Comma-separated regexes of URLs not traced (default: the env variable
            ``OTEL_PYTHON_FASTAPI_EXCLUDED_URLS``).
        tracer_provider: Providers for ``app`` (default: ``current_telemetry()``'s, else the
            OpenTelemetry globals); only with ``app``.
        meter_provider: See ``tracer_provider``.

    Raises:
        ValueError: Providers given without ``app``.
    """
    if app is None and (tracer_provider is not None or meter_provider is not None):
        raise ValueError("tracer_provider/meter_provider need an app: instrument(app, tracer_provider=...)")
    with _STATE.lock:
        if app is not None:
            _instrument_app(app, excluded_urls, tracer_provider, meter_provider)
            return
        _STATE.everywhere = True
        _STATE.excluded_urls = excluded_urls
        for installed in list(_STATE.installed):
            _instrument_app(installed, excluded_urls)


def uninstrument(app: FastAPI | None = None) -> None:
    """Undo :func:`instrument`: for ``app``, or for every app it instrumented (None).

    Args:
        app: The app to uninstrument; None for all of them (later ``install()`` calls no longer
            instrument their app).
    """
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    with _STATE.lock:
        apps = [app] if app is not None else list(_STATE.instrumented)
        if app is None:
            _STATE.everywhere = False
        for one in apps:
            if getattr(one, _FLAG, False):
                FastAPIInstrumentor.uninstrument_app(one)
            _STATE.instrumented.discard(one)


def is_instrumented(app: FastAPI) -> bool:
    """Tell whether ``app`` is instrumented (by :func:`instrument` or the instrumentor itself)."""
    return bool(getattr(app, _FLAG, False))


def instrument_installed(app: FastAPI, *, enabled: bool) -> None:
    """Called by ``install()``: remember ``app``; instrument it when asked or when on everywhere."""
    with _STATE.lock:
        _STATE.installed.add(app)
        if enabled or _STATE.everywhere:
            _instrument_app(app, _STATE.excluded_urls)
