"""Turn internal_aws's spans and metrics on and off (OpenTelemetry; off by default, then free).

Example::

    from internal_base.telemetry import configure_telemetry
    from internal_aws import telemetry

    configure_telemetry(service_name="orders", exporter="otlp")
    telemetry.instrument()

Spans (semantic conventions): a CLIENT span ``<Service>.<Operation>`` per AWS call
(``rpc.system=aws-api``, ``rpc.service``, ``rpc.method``, ``aws.request_id`` ...), a PRODUCER span
``send <queue>`` per SQS send, a CONSUMER span ``process <queue>`` per message an ``SqsConsumer``
handles, the child of the producer's span (one trace) and linked to it.

Metrics: ``messaging.client.sent.messages``, ``messaging.client.consumed.messages``,
``aws.sqs.processed.messages`` (``outcome``: success, failure, cancelled),
``messaging.process.duration`` (s) and ``aws.sqs.queue.lag`` (s, ``SentTimestamp`` to handler).
"""

from __future__ import annotations

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from internal_aws._telemetry import STATE, disable, enable

__all__ = ["instrument", "is_instrumented", "uninstrument"]


def instrument(
    *, tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None
) -> None:
    """Turn on internal_aws's spans and metrics (idempotent; a second call rebinds the providers).

    Args:
        tracer_provider: Provider of the spans (default: ``internal_base.telemetry``'s configured
            one, else OpenTelemetry's global provider).
        meter_provider: Provider of the metrics (default: likewise).
    """
    enable(tracer_provider, meter_provider)


def uninstrument() -> None:
    """Turn internal_aws's spans and metrics off again (idempotent)."""
    disable()


def is_instrumented() -> bool:
    """Whether :func:`instrument` is in effect."""
    return STATE.enabled
