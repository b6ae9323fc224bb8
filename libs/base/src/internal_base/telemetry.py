"""Public telemetry API: explicit OpenTelemetry setup, spans, propagation, metrics and ``instrument()``."""

from __future__ import annotations

from internal_base._instrumentation import COMMONS_LIBRARIES, instrument, uninstrument
from internal_base._propagation import extract_trace, inject_trace
from internal_base._telemetry import (
    Exporter,
    Telemetry,
    TelemetrySettings,
    configure_telemetry,
    counter,
    current_telemetry,
    get_meter,
    get_tracer,
    histogram,
    span,
)

__all__ = [
    "COMMONS_LIBRARIES",
    "Exporter",
    "Telemetry",
    "TelemetrySettings",
    "configure_telemetry",
    "counter",
    "current_telemetry",
    "extract_trace",
    "get_meter",
    "get_tracer",
    "histogram",
    "inject_trace",
    "instrument",
    "span",
    "uninstrument",
]
