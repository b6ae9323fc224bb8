"""S3 client configuration, multipart plumbing and presigning (no network)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr, ValidationError

from internal_aws import AwsConfigurationError, AwsError, AwsSettings, S3Client
from internal_aws._config import MIB
from internal_aws.s3._multipart import file_chunks, iterate, rechunk, slice_parts, upload_parts
from internal_base.errors import ConfigurationError
from internal_base.health import HealthRegistry
from internal_base.resilience import ResiliencePolicy, RetryPolicy

OFFLINE = "http://127.0.0.1:9"  # presigning and client creation never connect


def offline_settings(**overrides: object) -> AwsSettings:
    """Settings pointing at a port nobody listens on."""
    values: dict[str, object] = {
        "endpoint_url": OFFLINE,
        "region": "us-east-1",
        "access_key_id": SecretStr("AKIATEST"),
        "secret_access_key": SecretStr("secret"),
        "health_check": False,
    }
    values.update(overrides)
    return AwsSettings(**values)  # type: ignore[arg-type]


def test_s3_config_signs_with_sigv4() -> None:
    """The S3 botocore config uses SigV4 (needed for presigned URLs) and the addressing style."""
    client = S3Client(bucket="b", settings=offline_settings(s3_addressing_style="path"))
    config = client.config
    assert config.signature_version == "s3v4"
    assert config.s3 == {"addressing_style": "path"}
    assert config.retries == {"mode": "standard", "total_max_attempts": 1}


def test_botocore_makes_one_attempt_under_any_policy() -> None:
    """botocore never retries: the client's ResiliencePolicy is the one retry loop."""
    policy = ResiliencePolicy(retry=RetryPolicy(attempts=4))
    assert (
        S3Client(bucket="b", settings=offline_settings(), policy=policy).config.retries["total_max_attempts"]
        == 1
    )
    assert (
        S3Client(settings=offline_settings(), policy=ResiliencePolicy(timeout=2)).config.retries[
            "total_max_attempts"
        ]
        == 1
    )


def test_settings_resilience_is_on_by_default() -> None:
    """Without a resilience section a client still retries unavailability and has a breaker."""
    client = S3Client(bucket="b", settings=offline_settings())
    assert client.policy.retry is not None
    assert client.policy.retry.attempts == 3
    assert client.policy.breaker is not None


@pytest.mark.parametrize("key", ["max_attempts", "retry_mode"])
def test_botocore_retry_keys_are_refused_naming_their_new_place(key: str) -> None:
    """The flat botocore retry keys moved into the resilience section; giving one says where."""
    with pytest.raises(ValidationError, match=f"{key} -> resilience.retry"):
        AwsSettings.model_validate({key: 3})


def test_settings_build_a_policy_that_only_retries_unavailability() -> None:
    """settings.resilience becomes a policy whose retry and breaker know the AWS error classes."""
    from internal_aws import RETRYABLE_ERRORS, ConditionFailedError

    settings = offline_settings(resilience={"retry": {"attempts": 2}, "breaker": {"failure_threshold": 3}})
    policy = settings.resilience_policy("aws.s3")
    assert policy is not None
    assert policy.retry is not None
    assert policy.breaker is not None
    assert policy.retry.retry_on == (*RETRYABLE_ERRORS, TimeoutError)
    assert ConditionFailedError in policy.breaker.excluded


@pytest.mark.parametrize("field", ["s3_multipart_threshold", "s3_part_size"])
def test_parts_below_5_mib_are_rejected(field: str) -> None:
    """S3 rejects parts under 5 MiB, so the settings do too."""
    with pytest.raises(ConfigurationError, match=field):
        AwsSettings.load(None, None, **{field: 5 * MIB - 1})


def test_missing_bucket_is_a_configuration_error() -> None:
    """Operations without a default or explicit bucket fail clearly."""
    with pytest.raises(AwsConfigurationError, match="no bucket"):
        S3Client(settings=offline_settings())._bucket(None)
    assert S3Client(bucket="default", settings=offline_settings())._bucket("other") == "other"


def test_raw_client_needs_open() -> None:
    """The underlying client is only reachable while open."""
    with pytest.raises(AwsError, match="not open"):
        _ = S3Client(bucket="b", settings=offline_settings()).client


async def test_presigned_urls_are_sigv4_and_expire() -> None:
    """Presigned GET/PUT URLs carry a SigV4 signature and the requested lifetime."""
    async with S3Client(bucket="photos", settings=offline_settings(s3_addressing_style="path")) as s3:
        assert s3.client.meta.service_model.service_name == "s3"
        get_url = await s3.presigned_get_url("a/b.png", expires_in=300)
        put_url = await s3.presigned_put_url("a/c.png", content_type="image/png")
    get_query = parse_qs(urlsplit(get_url).query)
    assert urlsplit(get_url).path == "/photos/a/b.png"
    assert get_query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert get_query["X-Amz-Expires"] == ["300"]
    assert "X-Amz-Signature" in get_query
    put_query = parse_qs(urlsplit(put_url).query)
    assert put_query["X-Amz-Expires"] == ["3600"]
    assert "content-type" in put_query["X-Amz-SignedHeaders"][0]
    assert "secret" not in get_url


async def test_presign_lifetime_is_bounded() -> None:
    """More than 7 days (SigV4's maximum) is refused before signing."""
    async with S3Client(bucket="photos", settings=offline_settings()) as s3:
        with pytest.raises(AwsConfigurationError, match="7 days"):
            await s3.presigned_get_url("k", expires_in=8 * 24 * 3600)


async def test_health_check_registered_while_open() -> None:
    """Opening registers aws.s3:<bucket>; closing removes it."""
    registry = HealthRegistry(cache_ttl=0)
    client = S3Client(bucket="photos", settings=offline_settings(), health_registry=registry)
    async with client:
        assert registry.names == ["aws.s3:photos"]
        assert client.is_open
    assert registry.names == []
    assert not client.is_open


async def test_open_and_close_are_idempotent() -> None:
    """A second open returns the same client; a second close does nothing."""
    client = S3Client(bucket="b", settings=offline_settings())
    await client.open()
    raw = client.client
    assert await client.open() is client
    assert client.client is raw
    await client.aclose()
    await client.aclose()
    assert not client.is_open


async def test_rechunk_makes_exact_parts() -> None:
    """Uneven input chunks become parts of exactly the part size, the last one shorter."""
    source = iterate([b"ab", b"cdefg", b"", b"hij"])
    parts = [part.getvalue() async for part in rechunk(source, 4)]
    assert parts == [b"abcd", b"efgh", b"ij"]


async def test_slice_parts_cuts_bytes_into_parts() -> None:
    """put_bytes' parts are the data cut at the part size, each in its own buffer."""
    assert [part.getvalue() async for part in slice_parts(b"0123456789", 4)] == [b"0123", b"4567", b"89"]


async def test_upload_parts_reads_a_part_only_when_a_slot_is_free() -> None:
    """While every slot is busy no further part is read, so at most `concurrency` parts are alive."""
    release = asyncio.Event()
    read: list[bytes] = []

    async def parts() -> AsyncIterator[bytes]:
        for body in [b"a", b"b", b"c", b"d"]:
            read.append(body)
            yield body

    async def upload(number: int, body: bytes) -> str:
        await release.wait()
        return str(number)

    task = asyncio.ensure_future(upload_parts(parts(), upload, concurrency=2))
    for _ in range(20):
        await asyncio.sleep(0)
    assert read == [b"a", b"b"]
    release.set()
    assert await asyncio.wait_for(task, 10) == [(1, "1"), (2, "2"), (3, "3"), (4, "4")]


async def test_file_chunks_reads_the_whole_file(tmp_path: Path) -> None:
    """A file is read in pieces of the requested size."""
    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789")
    assert [chunk async for chunk in file_chunks(path, 4)] == [b"0123", b"4567", b"89"]


async def test_upload_parts_bounds_concurrency_and_orders_results() -> None:
    """At most `concurrency` parts are uploaded at once; results come back in part order."""
    active = 0
    peak = 0

    async def upload(number: int, body: bytes) -> str:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01 * (6 - number))
        active -= 1
        return f"etag-{number}-{body.decode()}"

    done = await upload_parts(iterate([b"a", b"b", b"c", b"d", b"e"]), upload, concurrency=2)
    assert done == [(1, "etag-1-a"), (2, "etag-2-b"), (3, "etag-3-c"), (4, "etag-4-d"), (5, "etag-5-e")]
    assert peak == 2


async def test_upload_parts_fails_fast_and_cancels_the_rest() -> None:
    """The first failing part raises; parts still running are cancelled."""
    cancelled: list[int] = []

    async def upload(number: int, body: bytes) -> str:
        if number == 2:
            raise OSError("part 2 broke")
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(number)
            raise
        return "never"

    with pytest.raises(OSError, match="part 2 broke"):
        await upload_parts(iterate([b"a", b"b", b"c", b"d"]), upload, concurrency=3)
    assert 1 in cancelled
