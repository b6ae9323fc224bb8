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


# W3C limits: baggage is at most 8192 bytes, tracestate at most 512 characters of list-members
# (OpenTelemetry accepts up to 8192). A longer value is dropped here, so the propagator does not
# copy a hostile header whole into its warning.
MAX_HEADER_LENGTH: Final = 8192


def carrier_text(value: object) -> str | None:
    """A carrier value as text: str as is, bytes decoded (raw ASGI headers), anything else None."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    return value if isinstance(value, str) else None


def carrier_value(carrier: Mapping[str, str], name: str) -> str | None:
    """The text under ``name`` in any case; non-str keys and unusable values are skipped."""
    value = carrier_text(carrier.get(name))
    if value is not None:
        return value
    lowered = name.lower()
    for key, item in carrier.items():
        if isinstance(key, str) and key.lower() == lowered:
            text = carrier_text(item)
            if text is not None:
                return text
    return None


class _CaseInsensitiveGetter(Getter[Mapping[str, str]]):
    """Reads carrier keys regardless of case (``Traceparent`` == ``traceparent``), str or bytes values."""

    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:
        value = carrier_value(carrier, key)
        if value is None or len(value) > MAX_HEADER_LENGTH:
            return None
        return [value]

    def keys(self, carrier: Mapping[str, str]) -> list[str]:
        return [key for key in carrier if isinstance(key, str)]


_GETTER: Final = _CaseInsensitiveGetter()


def inject_trace(carrier: MutableMapping[str, str], context: Context | None = None) -> None:
    """Write W3C ``traceparent``, ``tracestate`` and ``baggage`` for the current span into ``carrier``."""
    _PROPAGATOR.inject(carrier, context=context)


def extract_trace(carrier: Mapping[str, str]) -> Context:
    """Read W3C trace context from ``carrier`` (case-insensitive keys) into an OpenTelemetry context."""
    return _PROPAGATOR.extract(carrier, getter=_GETTER)
