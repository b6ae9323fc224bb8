"""ResiliencePolicy around AWS calls: retries without double-retrying, breakers that ignore caller errors."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from internal_aws import (
    AwsSettings,
    AwsTimeoutError,
    AwsUnavailableError,
    ObjectNotFoundError,
    S3Client,
    SqsClient,
)
from internal_base.errors import CircuitOpenError
from internal_base.resilience import (
    CircuitBreaker,
    ResiliencePolicy,
    ResilienceSettings,
    RetryPolicy,
    testing,
)


async def test_calls_succeed_through_a_policy(settings: AwsSettings, s3: S3Client) -> None:
    """With a retrying policy, calls work and botocore makes a single attempt per policy attempt."""
    policy = ResiliencePolicy(timeout=5, retry=RetryPolicy(attempts=2, retry_on=(AwsUnavailableError,)))
    async with S3Client(bucket=s3.bucket, settings=settings, policy=policy) as guarded:
        assert guarded.config.retries["total_max_attempts"] == 1
        await guarded.put_bytes("k", b"v")
        assert await guarded.get_bytes("k") == b"v"


async def test_caller_errors_do_not_open_the_breaker(s3: S3Client, settings: AwsSettings) -> None:
    """Missing keys never count as failures of the service (settings-built policy)."""
    configured = settings.model_copy(
        update={"resilience": ResilienceSettings(retry={"attempts": 1}, breaker={"failure_threshold": 1})}
    )
    async with S3Client(bucket=s3.bucket, settings=configured) as guarded:
        assert guarded.policy is not None
        assert guarded.policy.breaker is not None
        for _ in range(3):
            with pytest.raises(ObjectNotFoundError):
                await guarded.get_bytes("missing")
        assert guarded.policy.breaker.state == "closed"


async def test_unreachable_endpoint_retries_then_opens_the_breaker(settings: AwsSettings) -> None:
    """Connection errors are retried by the policy, then the breaker opens and fails fast."""
    unreachable = settings.model_copy(update={"endpoint_url": "http://127.0.0.1:9", "connect_timeout": 0.5})
    breaker = CircuitBreaker("aws.s3.test", failure_threshold=1, reset_timeout=60)
    policy = ResiliencePolicy(retry=RetryPolicy(attempts=3, retry_on=(AwsUnavailableError,)), breaker=breaker)
    with testing() as switch:
        async with S3Client(bucket="any-bucket", settings=unreachable, policy=policy) as guarded:
            with pytest.raises(AwsUnavailableError, match="HeadObject failed"):
                await guarded.head("k")
            assert len(switch.sleeps) == 2
            assert breaker.state == "open"
            with pytest.raises(AwsUnavailableError, match="circuit 'aws.s3.test' is open") as failed:
                await guarded.head("k")
            assert isinstance(failed.value.__cause__, CircuitOpenError)
            assert failed.value.retry_after is not None
            assert 50 < failed.value.retry_after <= 60


@pytest.fixture()
def silent_endpoint() -> Iterator[str]:
    """A loopback port that accepts connections and never answers (the kernel queues them)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


async def test_an_attempt_over_the_policy_timeout_is_an_aws_timeout_error(
    settings: AwsSettings, silent_endpoint: str
) -> None:
    """The policy's per-attempt timeout surfaces as AwsTimeoutError (a TimeoutError), not a bare one."""
    silent = settings.model_copy(
        update={
            "endpoint_url": silent_endpoint,
            "resilience": ResilienceSettings(
                timeout=1, retry={"attempts": 1}, breaker={"failure_threshold": 0}
            ),
        }
    )
    async with S3Client(bucket="any-bucket", settings=silent) as guarded:
        with pytest.raises(AwsTimeoutError, match="HeadObject timed out after 1.0 s") as failed:
            await guarded.head("k")
    assert isinstance(failed.value.__cause__, TimeoutError)


async def test_a_long_poll_gets_its_wait_time_on_top_of_the_policy_timeout(
    settings: AwsSettings, queue: SqsClient
) -> None:
    """A receive long-polling 4 s under a 3 s policy timeout returns (empty), it does not time out."""
    bounded = settings.model_copy(
        update={
            "resilience": ResilienceSettings(
                timeout=3, retry={"attempts": 1}, breaker={"failure_threshold": 0}
            )
        }
    )
    async with SqsClient(queue_url=await queue.url(), settings=bounded) as sqs:
        assert await sqs.receive(wait_time=4) == []
