"""Spans leave the process redacted: a ``SpanExporter`` wrapper applying the one redaction policy.

The SDK records an exception on a span as event attributes (``exception.message``,
``exception.stacktrace`` with every chained cause) and as the status description; libraries and
instrumentations add their own attributes and events. Wrapping the exporter redacts all of them,
whoever recorded them, at the one place every span passes before it leaves: span and event
names, string attribute values (free-text patterns), string values under secret attribute names
(``http.request.header.authorization``), link attributes and the status description. Numbers
and booleans are kept (``gen_ai.usage.input_tokens`` is a count, not a token). A text over
100,000 characters is cut after redaction, as a log message is: redacting megabytes would block
the thread ending the span for seconds, and collectors drop huge values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status

from internal_base._redaction import MASK, is_secret_key, redact_text_cut

__all__ = ["RedactingSpanExporter", "redact_span"]


class RedactingSpanExporter(SpanExporter):
    """Hand redacted copies of the spans to ``exporter``.

    Args:
        exporter: The exporter that sends spans out (OTLP, console, in-memory).
    """

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export redacted copies of ``spans``."""
        return self.exporter.export([redact_span(span) for span in spans])

    def shutdown(self) -> None:
        """Shut the wrapped exporter down."""
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the wrapped exporter."""
        return self.exporter.force_flush(timeout_millis)


def redact_span(span: ReadableSpan) -> ReadableSpan:
    """A copy of ``span`` with the redaction policy applied; the span itself when nothing changes."""
    # The properties build a new proxy or tuple on every access: read each once.
    old_name, old_attributes, old_events, old_links = span.name, span.attributes, span.events, span.links
    name = redact_text_cut(old_name)
    attributes = _attributes(old_attributes)
    events = [_event(event) for event in old_events]
    links = [_link(link) for link in old_links]
    status = old_status = span.status
    if status.description:
        redacted = redact_text_cut(status.description)
        if redacted is not status.description:
            status = Status(status.status_code, redacted)
    unchanged = (
        name is old_name
        and attributes is old_attributes
        and all(new is old for new, old in zip(events, old_events, strict=True))
        and all(new is old for new, old in zip(links, old_links, strict=True))
        and status is old_status
    )
    if unchanged:
        return span
    return ReadableSpan(
        name=name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _event(event: Event) -> Event:
    old_name, old_attributes = event.name, event.attributes
    name = redact_text_cut(old_name)
    attributes = _attributes(old_attributes)
    if name is old_name and attributes is old_attributes:
        return event
    return Event(name, attributes, event.timestamp)


def _link(link: Link) -> Link:
    old_attributes = link.attributes
    attributes = _attributes(old_attributes)
    return link if attributes is old_attributes else Link(link.context, attributes)


def _attributes(attributes: Mapping[str, Any] | None) -> Any:
    """Redacted attributes; the same object when nothing was masked."""
    if not attributes:
        return attributes
    redacted = {key: _value(key, value) for key, value in attributes.items()}
    if all(redacted[key] is value for key, value in attributes.items()):
        return attributes
    return redacted


def _value(key: str, value: Any) -> Any:
    if isinstance(value, str):
        return MASK if is_secret_key(key) else redact_text_cut(value)
    if isinstance(value, bytes):
        if is_secret_key(key):
            return MASK
        text = repr(value)
        redacted = redact_text_cut(text)
        return value if redacted is text else redacted
    if isinstance(value, Sequence) and value and isinstance(value[0], str):
        if is_secret_key(key):
            return tuple(MASK for _ in value)
        items = tuple(redact_text_cut(item) if isinstance(item, str) else item for item in value)
        return value if all(new is old for new, old in zip(items, value, strict=True)) else items
    return value
