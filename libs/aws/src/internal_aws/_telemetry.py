"""The switch behind ``internal_aws.telemetry``: our own spans and metrics, off until ``instrument()``.

aiobotocore is not covered by OpenTelemetry's botocore instrumentor, so internal_aws makes its spans
itself, following the semantic conventions:

* every AWS API call: a CLIENT span ``<Service>.<Operation>`` (``SQS.SendMessage``) with
  ``rpc.system=aws-api``, ``rpc.service``, ``rpc.method``, ``aws.request_id``, ``cloud.region``,
  ``error.type`` and the resource (``aws.s3.bucket``, ``aws.s3.key``, ``aws.dynamodb.table_names``,
  ``messaging.destination.name``);
* an SQS send: a PRODUCER span ``send <queue>`` whose context goes into the messages;
* a message handled by ``SqsConsumer``: a CONSUMER span ``process <queue>``, child of the message's
  creation context (the producer's span) and linked to it.

When off, the code paths cost one attribute read (``STATE.enabled``): no tracer, no instrument.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final
from urllib.parse import urlsplit

from opentelemetry import metrics, trace
from opentelemetry.metrics import Counter, Histogram, MeterProvider
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Tracer, TracerProvider
from opentelemetry.util.types import AttributeValue

from internal_base.context import get_correlation_id

__all__ = [
    "MESSAGING_SYSTEM",
    "STATE",
    "disable",
    "enable",
    "error_type",
    "producer_span",
    "queue_name",
    "rpc_service",
]

SCOPE: Final = "internal_aws"
MESSAGING_SYSTEM: Final = "aws_sqs"
_SERVICE_IDS: Final = {"s3": "S3", "dynamodb": "DynamoDB", "sqs": "SQS"}


class _State:
    """The providers' tracer and instruments while instrumented; ``enabled`` is the one hot-path check."""

    __slots__ = ("consumed", "enabled", "lag", "process_duration", "processed", "sent", "tracer")

    def __init__(self) -> None:
        self.enabled = False
        self.tracer: Tracer = trace.NoOpTracer()
        self.consumed: Counter | None = None
        self.processed: Counter | None = None
        self.process_duration: Histogram | None = None
        self.lag: Histogram | None = None
        self.sent: Counter | None = None


STATE: Final = _State()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("internal-aws")
    except PackageNotFoundError:
        return "0.0.0+source"


def enable(tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None) -> None:
    """Create the tracer and instruments from these providers (None: the current/global ones)."""
    from internal_base.telemetry import current_telemetry

    configured = current_telemetry()
    if tracer_provider is None:
        tracer_provider = configured.tracer_provider if configured else trace.get_tracer_provider()
    if meter_provider is None:
        meter_provider = configured.meter_provider if configured else metrics.get_meter_provider()
    version = _version()
    meter = meter_provider.get_meter(SCOPE, version)
    STATE.tracer = tracer_provider.get_tracer(SCOPE, version)
    STATE.consumed = meter.create_counter(
        "messaging.client.consumed.messages",
        unit="{message}",
        description="Messages an SQS consumer received.",
    )
    STATE.processed = meter.create_counter(
        "aws.sqs.processed.messages",
        unit="{message}",
        description="Messages an SQS consumer's handler finished, by outcome (success, failure, cancelled).",
    )
    STATE.process_duration = meter.create_histogram(
        "messaging.process.duration", unit="s", description="Duration of an SQS consumer's handler."
    )
    STATE.lag = meter.create_histogram(
        "aws.sqs.queue.lag",
        unit="s",
        description="Time from a message's SentTimestamp to the start of its handler.",
    )
    STATE.sent = meter.create_counter(
        "messaging.client.sent.messages", unit="{message}", description="Messages SQS accepted."
    )
    STATE.enabled = True


def disable() -> None:
    """Turn the spans and metrics off again (the instruments are dropped)."""
    STATE.enabled = False
    STATE.tracer = trace.NoOpTracer()
    STATE.consumed = STATE.processed = STATE.sent = None
    STATE.process_duration = STATE.lag = None


def rpc_service(service: str) -> str:
    """``"dynamodb"`` → ``"DynamoDB"``: the service id AWS SDKs report as ``rpc.service``."""
    return _SERVICE_IDS.get(service, service.upper())


def queue_name(url: str) -> str:
    """The queue name at the end of a queue URL's path (never its query, fragment or user info)."""
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


def error_type(exc: BaseException) -> str:
    """``error.type``: the AWS error code when there is one, else the exception's qualified name."""
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code:
        return code
    kind = type(exc)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def messaging_attributes(url: str, operation: str) -> dict[str, AttributeValue]:
    """The messaging attributes of an operation (``send``, ``receive``, ``process``) on a queue."""
    return {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.destination.name": queue_name(url),
        "messaging.operation.type": operation,
        "messaging.operation.name": operation,
    }


def _with_correlation(attributes: dict[str, AttributeValue]) -> dict[str, AttributeValue]:
    correlation_id = get_correlation_id()
    if correlation_id is not None:
        attributes["commons.correlation_id"] = correlation_id
    return attributes


def start_span(
    name: str, kind: SpanKind, attributes: dict[str, AttributeValue], links: Sequence[Link] = ()
) -> Any:
    """``start_as_current_span`` of the instrumented tracer (exceptions recorded, status ERROR)."""
    return STATE.tracer.start_as_current_span(
        name, kind=kind, attributes=_with_correlation(attributes), links=links or None
    )


def links_of(contexts: Sequence[SpanContext]) -> list[Link]:
    """Links to the valid span contexts among ``contexts`` (duplicates once)."""
    seen: set[tuple[int, int]] = set()
    links: list[Link] = []
    for context in contexts:
        key = (context.trace_id, context.span_id)
        if context.is_valid and key not in seen:
            seen.add(key)
            links.append(Link(context))
    return links


@contextmanager
def producer_span(url: str, count: int, links: Sequence[Link] = ()) -> Iterator[Span | None]:
    """The PRODUCER span ``send <queue>`` around a send (None when not instrumented).

    Messages built inside it carry its context (W3C ``traceparent``) unless they bring their own.
    """
    if not STATE.enabled:
        yield None
        return
    attributes = messaging_attributes(url, "send")
    if count > 1:
        attributes["messaging.batch.message_count"] = count
    with start_span(f"send {queue_name(url)}", SpanKind.PRODUCER, attributes, links) as span:
        try:
            yield span
        except Exception as exc:
            span.set_attribute("error.type", error_type(exc))
            raise


def record_sent(url: str, accepted: int, failures: Mapping[str, int]) -> None:
    """Count messages SQS accepted, and the rejected ones by ``error.type``."""
    sent = STATE.sent
    if sent is None:
        return
    attributes = messaging_attributes(url, "send")
    del attributes["messaging.operation.type"]
    if accepted:
        sent.add(accepted, attributes)
    for code, count in failures.items():
        sent.add(count, {**attributes, "error.type": code})


def lag_seconds(sent_timestamp: str | None, now: float | None = None) -> float | None:
    """Seconds since ``SentTimestamp`` (epoch milliseconds), never negative; None when unknown."""
    if not sent_timestamp:
        return None
    try:
        sent = int(sent_timestamp) / 1000.0
    except ValueError:
        return None
    return max(0.0, (time.time() if now is None else now) - sent)
