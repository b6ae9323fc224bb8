"""Join the current span, or continue the request's ``traceparent`` when nothing else did.

A server span opened outside the commons middleware (the FastAPI instrumentor's, FastAPI's own)
has already continued an incoming ``traceparent``; attaching the extracted context again would
make the route's spans its siblings, and attaching an empty one (no ``traceparent``) would detach
them from it altogether. So the extracted context is attached only when the request carries a
valid ``traceparent`` of a trace that is not the current one; ``baggage`` is added to whichever
context is current.
"""

from __future__ import annotations

from typing import Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = ["CORRELATION_ATTRIBUTE", "MAX_TRACE_HEADER", "attach_trace", "mark_span"]

#: Span attribute naming the request's correlation ID (the name ``internal_base.telemetry.span`` uses).
CORRELATION_ATTRIBUTE: Final = "commons.correlation_id"
#: Longest trace header value read (W3C baggage limit); a longer one is ignored.
MAX_TRACE_HEADER: Final = 8192
_TRACE_CONTEXT: Final = TraceContextTextMapPropagator()
_BAGGAGE: Final = W3CBaggagePropagator()


def attach_trace(carrier: dict[str, str]) -> object | None:
    """Attach the trace context ``carrier`` (lower-case W3C header names) adds, if any.

    Args:
        carrier: ``traceparent``/``tracestate``/``baggage`` values of the request.

    Returns:
        The token to give to :func:`opentelemetry.context.detach`, or None when nothing was attached.
    """
    current = otel_context.get_current()
    context: Context | None = None
    if "traceparent" in carrier:
        extracted = _TRACE_CONTEXT.extract(carrier, context=current)
        incoming = trace.get_current_span(extracted).get_span_context()
        here = trace.get_current_span(current).get_span_context() if current else None
        if incoming.is_valid and (here is None or not here.is_valid or here.trace_id != incoming.trace_id):
            context = extracted
    if "baggage" in carrier:
        context = _BAGGAGE.extract(carrier, context=context if context is not None else current)
    return None if context is None else otel_context.attach(context)


def mark_span(correlation_id: str) -> None:
    """Put the correlation ID on the current span when one is recording (cheap when none is)."""
    if otel_context.get_current():  # an empty context holds no span: skip the lookup
        current = trace.get_current_span()
        if current.is_recording():
            current.set_attribute(CORRELATION_ATTRIBUTE, correlation_id)
