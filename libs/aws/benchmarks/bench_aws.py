"""internal_aws against hand-written aioboto3 code on one moto server, for the harness in ``benchmarks/``.

Promises measured (issue #11):

- the SQS consumer at least 0.8x the throughput of a hand-written receive/handle/delete loop;
- ``send_batch`` and ``delete_batch`` at least 2x a one-at-a-time loop of SendMessage / DeleteMessage;
- a 100 MiB object streamed up and down from disk with bounded memory (peak memory shown; the
  promise is less than 32 MiB above the process's baseline).

Rows of issues #13 and #15:

- the SQS consumer with ``internal_aws.telemetry`` instrumented (spans and metrics into SDK providers)
  at least 0.9x the throughput of the same consumer uninstrumented;
- ``SqsOutboxPublisher.publish`` at least 0.9x a hand-written SendMessageBatch loop building the same
  entries (JSON body, ``outbox-id`` and context attributes, 10 per call).

The SQS rows use 100 messages per round on a fresh queue: moto rescans the whole queue for every
message it stores, a cost that grows with the queue, is the same for both variants and would
otherwise drown the per-request cost that batching saves.

moto's standalone server runs in its own process on a free loopback port (as the
``internal_testing`` plugin starts it), so its work does not compete with the measured event loop
for the GIL. Run: ``./pants run benchmarks:run -- --only aws``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aioboto3
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from pydantic import SecretStr

from commons_bench import BenchContext, Benchmark, ServiceUnavailable, Target
from internal_aws import AwsSettings, Message, S3Client, SqsClient, SqsConsumer, SqsOutboxPublisher
from internal_aws._config import MIB
from internal_aws.telemetry import instrument, uninstrument
from internal_base.context import correlation_scope, inject_context

__all__ = ["suite"]

_KEYS: dict[str, Any] = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
_REGION = "us-east-1"
_OBJECT_SIZE = 100 * MIB
_BODY = '{"job": 1, "payload": "' + "x" * 200 + '"}'


@contextlib.contextmanager
def _moto() -> Any:
    try:
        from internal_testing import MotoServer
        from internal_testing import ServiceUnavailable as NotStarted
    except ImportError as exc:  # pragma: no cover - the commons resolve has it
        raise ServiceUnavailable("the aws rows need internal_testing and moto[server]") from exc
    server = MotoServer()
    try:
        server.start()
    except NotStarted as exc:
        raise ServiceUnavailable(f"moto's server did not start: {exc}") from exc
    try:
        yield server.url
    finally:
        server.stop()


async def _fill(queue: SqsClient, n: int) -> None:
    (await queue.send_batch([_BODY] * n)).raise_for_failures()


async def _receive_all(queue: SqsClient, n: int) -> list[Message]:
    received: list[Message] = []
    while len(received) < n:
        received += await queue.receive(max_messages=10, wait_time=1, visibility_timeout=300)
    return received


@contextlib.asynccontextmanager
async def _fresh_queue(sqs: SqsClient, n: int = 0) -> AsyncIterator[str]:
    """Point ``sqs`` at a new queue holding ``n`` messages; yield its URL; delete it afterwards.

    One queue per round: moto scans the whole queue on every SendMessage (to count its messages), so
    a queue that grows round after round would measure that scan instead of the calls; and a long
    poll cut short by ``stop()`` may still take messages on the server side (hidden for the
    visibility timeout), which would stall the next round on a shared queue. The clients stay the
    same (warm) in every round, for both variants.
    """
    url = await sqs.create_queue(f"bench-{secrets.token_hex(6)}")
    sqs.queue_url = url
    if n:
        await _fill(sqs, n)
    try:
        yield url
    finally:
        await sqs.delete_queue()


def _consume_row(raw: Any, sqs: SqsClient) -> Benchmark:
    async def handle(_: object) -> None:
        return None

    async def raw_consume(n: int) -> float:
        async with _fresh_queue(sqs, n) as url:
            started = time.perf_counter()
            done = 0
            while done < n:
                response = await raw.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=1,
                    VisibilityTimeout=60,
                    MessageAttributeNames=["All"],
                )
                for message in response.get("Messages", []):
                    await handle(message)
                    await raw.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    done += 1
            return time.perf_counter() - started

    async def commons_consume(n: int) -> float:
        async with _fresh_queue(sqs, n):
            consumer = SqsConsumer(sqs, handle, wait_time=1, visibility_timeout=60, shutdown_timeout=10)
            started = time.perf_counter()
            async with consumer:
                while consumer.stats.deleted < n:
                    await asyncio.sleep(0.002)
                return time.perf_counter() - started

    return Benchmark(
        "SQS consume: receive, handle, delete",
        raw=raw_consume,
        commons=commons_consume,
        target=Target.throughput_ratio(0.8),
        ops=100,
        min_ops=50,
        rounds=5,
        unit="message",
        note="raw: a hand-written aioboto3 loop (receive 10, handle, DeleteMessage each); "
        "commons: SqsConsumer (defaults)",
    )


def _batch_rows(raw: Any, sqs: SqsClient) -> list[Benchmark]:
    async def raw_send(n: int) -> float:
        async with _fresh_queue(sqs) as url:
            started = time.perf_counter()
            for _ in range(n):
                await raw.send_message(QueueUrl=url, MessageBody=_BODY)
            return time.perf_counter() - started

    async def commons_send(n: int) -> float:
        async with _fresh_queue(sqs):
            started = time.perf_counter()
            (await sqs.send_batch([_BODY] * n)).raise_for_failures()
            return time.perf_counter() - started

    async def raw_delete(n: int) -> float:
        async with _fresh_queue(sqs, n) as url:
            messages = await _receive_all(sqs, n)
            started = time.perf_counter()
            for message in messages:
                await raw.delete_message(QueueUrl=url, ReceiptHandle=message.receipt_handle)
            return time.perf_counter() - started

    async def commons_delete(n: int) -> float:
        async with _fresh_queue(sqs, n):
            messages = await _receive_all(sqs, n)
            started = time.perf_counter()
            (await sqs.delete_batch(messages)).raise_for_failures()
            return time.perf_counter() - started

    common: dict[str, Any] = {"ops": 100, "min_ops": 50, "rounds": 5, "unit": "message"}
    return [
        Benchmark(
            "SQS send: send_batch vs SendMessage loop",
            raw=raw_send,
            commons=commons_send,
            target=Target.throughput_ratio(2.0),
            note="raw: one SendMessage per message; commons: send_batch (10 per call)",
            **common,
        ),
        Benchmark(
            "SQS delete: delete_batch vs DeleteMessage loop",
            raw=raw_delete,
            commons=commons_delete,
            target=Target.throughput_ratio(2.0),
            note="raw: one DeleteMessage per message; commons: delete_batch (10 per call)",
            **common,
        ),
    ]


def _telemetry_row(sqs: SqsClient) -> Benchmark:
    async def handle(_: object) -> None:
        return None

    async def consume(n: int) -> float:
        async with _fresh_queue(sqs, n):
            consumer = SqsConsumer(sqs, handle, wait_time=1, visibility_timeout=60, shutdown_timeout=10)
            started = time.perf_counter()
            async with consumer:
                while consumer.stats.deleted < n:
                    await asyncio.sleep(0.002)
                return time.perf_counter() - started

    async def instrumented(n: int) -> float:
        reader = InMemoryMetricReader()
        instrument(tracer_provider=TracerProvider(), meter_provider=MeterProvider(metric_readers=[reader]))
        try:
            return await consume(n)
        finally:
            uninstrument()

    return Benchmark(
        "SQS consume: telemetry on vs off",
        raw=consume,
        commons=instrumented,
        target=Target.throughput_ratio(0.9),
        ops=100,
        min_ops=50,
        rounds=5,
        unit="message",
        note="raw: SqsConsumer uninstrumented; commons: the same after internal_aws.telemetry.instrument() "
        "(client, process spans and the consumer metrics into SDK providers)",
    )


@dataclass(frozen=True)
class _Event:
    id: str
    topic: str
    payload: dict[str, Any]
    headers: dict[str, str]


def _events(n: int) -> list[_Event]:
    with correlation_scope("bench-outbox"):
        headers: dict[str, str] = {}
        inject_context(headers)
    payload = "x" * 200
    return [_Event(secrets.token_hex(16), "jobs", {"job": i, "payload": payload}, headers) for i in range(n)]


def _outbox_row(raw: Any, sqs: SqsClient) -> Benchmark:
    async def raw_publish(n: int) -> float:
        events = _events(n)
        async with _fresh_queue(sqs) as url:
            started = time.perf_counter()
            published: list[str] = []
            for start in range(0, n, 10):
                entries = [
                    {
                        "Id": str(index),
                        "MessageBody": json.dumps(event.payload, separators=(",", ":")),
                        "MessageAttributes": {
                            name: {"DataType": "String", "StringValue": value}
                            for name, value in {"outbox-id": event.id, **event.headers}.items()
                        },
                    }
                    for index, event in enumerate(events[start : start + 10], start)
                ]
                response = await raw.send_message_batch(QueueUrl=url, Entries=entries)
                published += [events[int(ok["Id"])].id for ok in response.get("Successful", [])]
            assert len(published) == n
            return time.perf_counter() - started

    async def commons_publish(n: int) -> float:
        events = _events(n)
        async with _fresh_queue(sqs) as url:
            publisher = SqsOutboxPublisher({"jobs": url}, client=sqs)  # the warm client, as raw's
            started = time.perf_counter()
            published = await publisher.publish(events)
            elapsed = time.perf_counter() - started
            assert len(published) == n
            return elapsed

    return Benchmark(
        "Outbox publish: SqsOutboxPublisher vs SendMessageBatch loop",
        raw=raw_publish,
        commons=commons_publish,
        target=Target.throughput_ratio(0.9),
        ops=100,
        min_ops=50,
        rounds=5,
        unit="event",
        note="raw: hand-built SendMessageBatch entries (JSON body, outbox-id and context attributes), "
        "10 per call; commons: SqsOutboxPublisher.publish (the same, plus per-event checks and a report)",
    )


def _s3_row(raw: Any, s3: S3Client, bucket: str, source: Path, directory: Path) -> Benchmark:
    async def raw_round_trip(n: int) -> None:
        for _ in range(n):
            await raw.upload_file(str(source), bucket, "raw.bin")
            await raw.download_file(bucket, "raw.bin", str(directory / "raw.out"))

    async def commons_round_trip(n: int) -> None:
        for _ in range(n):
            await s3.upload_file("commons.bin", source)
            await s3.download_file("commons.bin", directory / "commons.out")

    return Benchmark(
        "S3 100 MiB file up and down (peak memory)",
        raw=raw_round_trip,
        commons=commons_round_trip,
        ops=1,
        rounds=3,
        unit="round trip",
        track_memory=True,
        note="raw: aioboto3 upload_file/download_file; commons: S3Client.upload_file/download_file; "
        "the promise: commons peak under 32 MiB",
    )


@contextlib.asynccontextmanager
async def suite(ctx: BenchContext) -> AsyncIterator[list[Benchmark]]:
    """The aws rows, against a moto server started for the run."""
    with _moto() as url, tempfile.TemporaryDirectory(prefix="bench-aws-") as tmp:
        directory = Path(tmp)
        source = directory / "source.bin"
        block = secrets.token_bytes(MIB)
        with source.open("wb") as handle:
            for _ in range(_OBJECT_SIZE // MIB):
                handle.write(block)
        settings = AwsSettings(
            endpoint_url=url,
            region=_REGION,
            access_key_id=SecretStr(_KEYS["aws_access_key_id"]),
            secret_access_key=SecretStr(_KEYS["aws_secret_access_key"]),
            s3_addressing_style="path",
            health_check=False,
        )
        session = aioboto3.Session(region_name=_REGION, **_KEYS)
        bucket = f"bench-{secrets.token_hex(4)}"
        async with contextlib.AsyncExitStack() as stack:
            raw_sqs = await stack.enter_async_context(session.client("sqs", endpoint_url=url))
            raw_s3 = await stack.enter_async_context(session.client("s3", endpoint_url=url))
            sqs = await stack.enter_async_context(SqsClient(settings=settings, session=session))
            s3 = await stack.enter_async_context(S3Client(bucket=bucket, settings=settings, session=session))
            await s3.create_bucket()
            yield [
                _consume_row(raw_sqs, sqs),
                _telemetry_row(sqs),
                *_batch_rows(raw_sqs, sqs),
                _outbox_row(raw_sqs, sqs),
                _s3_row(raw_s3, s3, bucket, source, directory),
            ]
