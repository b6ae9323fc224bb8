"""Server spans and ``http.server.*`` metrics: :mod:`internal_fastapi._server_telemetry`, switched per app.

``instrument(app)`` instruments one app; ``instrument()`` every app given to
:func:`internal_fastapi.install` (before or after the call). In an installed app the commons
middleware records the server span around everything it does (IDs, access log, error logs); in
any other app an outer :class:`ServerTelemetryMiddleware` does. Turning it on or off flips a
per-app switch: the middleware stack is not rebuilt, and an app that is off pays one attribute
check per request. Providers: ``internal_base.telemetry.current_telemetry()``'s when configured,
else OpenTelemetry's globals. FastAPI's own tracing and metrics (0.165+) are turned off for an
instrumented app, so each request has one server span and one set of measurements.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Any, Final

from fastapi import FastAPI
from opentelemetry import metrics, trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider
from starlette.types import ASGIApp

from internal_base.telemetry import current_telemetry
from internal_fastapi._server_telemetry import (
    ServerTelemetry,
    ServerTelemetryMiddleware,
    TelemetrySwitch,
    excluded_urls_pattern,
)

__all__ = ["instrument", "instrument_installed", "is_instrumented", "telemetry_switch", "uninstrument"]

# Set on apps by OpenTelemetry's own FastAPI instrumentor, when someone uses it directly.
_CONTRIB_FLAG: Final = "_is_instrumented_by_opentelemetry"
_SWITCH: Final = "commons_telemetry"
_NATIVE_SIGNALS: Final = ("tracing", "metrics")


@dataclass
class _State:
    lock: threading.RLock = field(default_factory=threading.RLock)
    everywhere: bool = False
    excluded_urls: str | None = None
    installed: weakref.WeakSet[FastAPI] = field(default_factory=weakref.WeakSet)
    instrumented: weakref.WeakSet[FastAPI] = field(default_factory=weakref.WeakSet)


_STATE: Final = _State()


def telemetry_switch(app: FastAPI) -> TelemetrySwitch:
    """The app's :class:`TelemetrySwitch` (created, off, on first use)."""
    with _STATE.lock:
        switch = getattr(app.state, _SWITCH, None)
        if not isinstance(switch, TelemetrySwitch):
            switch = TelemetrySwitch()
            setattr(app.state, _SWITCH, switch)
        return switch


def _wrap_stack(app: FastAPI, switch: TelemetrySwitch) -> None:
    """Make :class:`ServerTelemetryMiddleware` the outermost layer of ``app`` (once)."""
    if switch.wrapped:
        return
    build = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        return ServerTelemetryMiddleware(build(), switch)

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]
    app.middleware_stack = None  # rebuilt by the next request, now wrapped
    switch.wrapped = True


def _native_off(app: FastAPI, switch: TelemetrySwitch) -> None:
    """Turn FastAPI's own server span and metrics off for ``app``, remembering its settings."""
    config: Any = getattr(app, "_telemetry", None)  # FastAPI >= 0.165
    if isinstance(config, dict) and switch.native is None:
        switch.native = {name: config[name] for name in _NATIVE_SIGNALS if name in config}
        for name in _NATIVE_SIGNALS:
            config[name] = False


def _native_restore(app: FastAPI, switch: TelemetrySwitch) -> None:
    config: Any = getattr(app, "_telemetry", None)
    if isinstance(config, dict) and switch.native is not None:
        config.update(switch.native)
    switch.native = None


def _instrument_app(
    app: FastAPI,
    excluded_urls: str | None,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> None:
    switch = telemetry_switch(app)
    if switch.server is not None:
        return
    telemetry = current_telemetry()
    if telemetry is not None:
        tracer_provider = tracer_provider or telemetry.tracer_provider
        meter_provider = meter_provider or telemetry.meter_provider
    server = ServerTelemetry(
        tracer_provider or trace.get_tracer_provider(),
        meter_provider or metrics.get_meter_provider(),
        excluded_urls_pattern(excluded_urls),
    )
    _native_off(app, switch)
    if not switch.in_stack:
        _wrap_stack(app, switch)
    switch.server = server
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
        excluded_urls: Comma-separated regexes, searched in each request's full URL, of the
            requests neither traced nor measured (default: the environment variable
            ``OTEL_PYTHON_FASTAPI_EXCLUDED_URLS``, else ``OTEL_PYTHON_EXCLUDED_URLS``).
        tracer_provider: Providers for ``app`` (default: ``current_telemetry()``'s, else the
            OpenTelemetry globals); only with ``app``.
        meter_provider: See ``tracer_provider``.

    Raises:
        ValueError: Providers given without ``app``; an invalid ``excluded_urls`` regex.
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
    with _STATE.lock:
        apps = [app] if app is not None else list(_STATE.instrumented)
        if app is None:
            _STATE.everywhere = False
        for one in apps:
            switch = telemetry_switch(one)
            switch.server = None
            _native_restore(one, switch)
            _STATE.instrumented.discard(one)


def is_instrumented(app: FastAPI | None = None) -> bool:
    """Tell whether ``app`` is instrumented (by :func:`instrument`, or by OpenTelemetry's instrumentor).

    Args:
        app: The app; None: whether ``instrument()`` is on for every installed app.
    """
    if app is None:
        return _STATE.everywhere
    switch = getattr(app.state, _SWITCH, None)
    on = isinstance(switch, TelemetrySwitch) and switch.server is not None
    return on or bool(getattr(app, _CONTRIB_FLAG, False))


def instrument_installed(app: FastAPI, *, enabled: bool) -> None:
    """Called by ``install()``: remember ``app``; instrument it when asked or when on everywhere."""
    with _STATE.lock:
        _STATE.installed.add(app)
        if enabled or _STATE.everywhere:
            _instrument_app(app, _STATE.excluded_urls)
