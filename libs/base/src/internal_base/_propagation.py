"""W3C trace-context propagation into any string carrier (HTTP headers, message attributes)."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Final

from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR: Final = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])


class _CaseInsensitiveGetter(Getter[Mapping[str, str]]):
    """Reads carrier keys regardless of case (``Traceparent`` == ``traceparent``)."""

    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:
        value = carrier.get(key)
        if value is None:
            lowered = key.lower()
            value = next((item for name, item in carrier.items() if name.lower() == lowered), None)
        return None if value is None else [value]

    def keys(self, carrier: Mapping[str, str]) -> list[str]:
        return list(carrier.keys())


_GETTER: Final = _CaseInsensitiveGetter()


def inject_trace(carrier: MutableMapping[str, str], context: Context | None = None) -> None:
    """Write W3C ``traceparent``, ``tracestate`` and ``baggage`` for the current span into ``carrier``."""
    _PROPAGATOR.inject(carrier, context=context)


def extract_trace(carrier: Mapping[str, str]) -> Context:
    """Read W3C trace context from ``carrier`` (case-insensitive keys) into an OpenTelemetry context."""
    return _PROPAGATOR.extract(carrier, getter=_GETTER)
