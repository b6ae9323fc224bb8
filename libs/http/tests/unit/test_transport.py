"""Unit tests for RetryTransport (httpx.MockTransport, waits skipped with resilience.testing())."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from internal_base.resilience import BackoffSettings, testing
from internal_http import (
    ATTEMPTS_EXTENSION,
    RETRY_EXTENSION,
    BreakerConfig,
    BreakerRegistry,
    HttpUnavailableError,
    RetryConfig,
    RetryTransport,
    parse_retry_after,
)

URL = "https://api.test/items"


class Script:
    """A MockTransport handler answering from a list of statuses/exceptions, recording requests."""

    def __init__(self, *outcomes: int | Exception, headers: dict[str, str] | None = None) -> None:
        self.outcomes = list(outcomes)
        self.headers = headers or {}
        self.requests: list[httpx.Request] = []
        self.bodies: list[bytes] = []
        self.responses: list[httpx.Response] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.bodies.append(await request.aread())
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        response = httpx.Response(outcome, headers=self.headers if outcome != 200 else {}, content=b"x" * 10)
        self.responses.append(response)
        return response


@pytest.fixture()
def no_wait() -> Iterator[testing]:
    """Skip (and record) every backoff wait."""
    with testing() as mode:
        yield mode


def _client(script: Script, **retry: object) -> httpx.AsyncClient:
    options: dict[str, object] = {"backoff": BackoffSettings(initial=0.1, maximum=1.0), **retry}
    config = RetryConfig.model_validate(options)
    return httpx.AsyncClient(transport=RetryTransport(httpx.MockTransport(script), retry=config))


async def test_retries_503_then_succeeds(no_wait: testing) -> None:
    """A GET failing twice with 503 succeeds on the third attempt after two backoff waits."""
    script = Script(503, 503, 200)
    async with _client(script) as client:
        response = await client.get(URL)
    assert response.status_code == 200
    assert response.extensions[ATTEMPTS_EXTENSION] == 3
    assert len(script.requests) == 3
    assert len(no_wait.sleeps) == 2
    assert all(0 <= s <= 0.2 for s in no_wait.sleeps)


async def test_failed_responses_are_closed(no_wait: testing) -> None:
    """Responses that are retried are drained and closed first."""
    script = Script(502, 504, 200)
    async with _client(script) as client:
        await client.get(URL)
    assert [r.is_closed for r in script.responses[:2]] == [True, True]


async def test_gives_up_after_attempts(no_wait: testing) -> None:
    """After the last attempt the final failed response is returned."""
    script = Script(503)
    async with _client(script, attempts=4) as client:
        response = await client.get(URL)
    assert response.status_code == 503
    assert response.extensions[ATTEMPTS_EXTENSION] == 4
    assert len(script.requests) == 4


async def test_post_is_not_retried(no_wait: testing) -> None:
    """A POST without Idempotency-Key is sent once."""
    script = Script(503, 200)
    async with _client(script) as client:
        response = await client.post(URL, json={"a": 1})
    assert response.status_code == 503
    assert len(script.requests) == 1
    assert no_wait.sleeps == []


async def test_post_with_idempotency_key_is_retried(no_wait: testing) -> None:
    """A POST carrying an Idempotency-Key is retried with the same body."""
    script = Script(503, 200)
    async with _client(script) as client:
        response = await client.post(URL, json={"a": 1}, headers={"Idempotency-Key": "abc"})
    assert response.status_code == 200
    assert script.bodies == [b'{"a":1}', b'{"a":1}']


async def test_non_idempotent_opt_in(no_wait: testing) -> None:
    """retry_non_idempotent=True retries PATCH."""
    script = Script(502, 200)
    async with _client(script, retry_non_idempotent=True) as client:
        response = await client.patch(URL, content=b"p")
    assert response.status_code == 200
    assert len(script.requests) == 2


async def test_per_request_extension_overrides(no_wait: testing) -> None:
    """The retry extension forces retries for a POST and disables them for a GET."""
    script = Script(503, 200)
    async with _client(script) as client:
        forced = await client.post(URL, extensions={RETRY_EXTENSION: True})
        script.outcomes = [503, 200]
        disabled = await client.get(URL, extensions={RETRY_EXTENSION: False})
    assert (forced.status_code, disabled.status_code) == (200, 503)
    assert len(script.requests) == 3


async def test_non_retryable_status_returned_at_once(no_wait: testing) -> None:
    """500 and 404 are not retried."""
    script = Script(500)
    async with _client(script) as client:
        assert (await client.get(URL)).status_code == 500
        script.outcomes = [404]
        assert (await client.get(URL)).status_code == 404
    assert len(script.requests) == 2


async def test_connect_error_retried_then_raised(no_wait: testing) -> None:
    """Connect errors are retried; the last one is re-raised when attempts run out."""
    script = Script(httpx.ConnectError("refused"))
    async with _client(script, attempts=3) as client:
        with pytest.raises(httpx.ConnectError, match="refused"):
            await client.get(URL)
    assert len(script.requests) == 3


async def test_timeout_retried_then_succeeds(no_wait: testing) -> None:
    """A read timeout is retried."""
    script = Script(httpx.ReadTimeout("slow"), 200)
    async with _client(script) as client:
        assert (await client.get(URL)).status_code == 200
    assert len(script.requests) == 2


async def test_other_errors_not_retried(no_wait: testing) -> None:
    """An unexpected exception propagates after one attempt."""
    script = Script(RuntimeError("bug"))
    async with _client(script) as client:
        with pytest.raises(RuntimeError, match="bug"):
            await client.get(URL)
    assert len(script.requests) == 1


async def test_streamed_body_not_retried(no_wait: testing, caplog: pytest.LogCaptureFixture) -> None:
    """A PUT whose body is a one-shot async stream is not retried (and the reason is logged)."""
    caplog.set_level(logging.DEBUG, logger="internal_http")

    async def chunks() -> AsyncIterator[bytes]:
        yield b"chunk"

    script = Script(503, 200)
    async with _client(script) as client:
        response = await client.put(URL, content=chunks())
    assert response.status_code == 503
    assert len(script.requests) == 1
    assert any("cannot be replayed" in r.getMessage() for r in caplog.records)


class BrokenBody(httpx.AsyncByteStream):
    """A response body that fails while being read."""

    def __init__(self) -> None:
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in (b"partial",):
            if chunk:
                raise httpx.ReadError("connection reset")
            yield chunk  # pragma: no cover - makes this an async generator

    async def aclose(self) -> None:
        self.closed = True


async def test_unreadable_failed_response_still_closed(no_wait: testing) -> None:
    """A failed response whose body cannot be drained is closed and the retry proceeds."""
    body = BrokenBody()
    outcomes = [httpx.Response(503, stream=body), httpx.Response(200)]
    transport = RetryTransport(httpx.MockTransport(lambda request: outcomes.pop(0)))
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(URL)
    assert response.status_code == 200
    assert body.closed is True


async def test_retry_after_seconds_honoured(no_wait: testing) -> None:
    """Retry-After in seconds replaces the backoff wait."""
    script = Script(429, 200, headers={"Retry-After": "7"})
    async with _client(script) as client:
        assert (await client.get(URL)).status_code == 200
    assert no_wait.sleeps == [7.0]


async def test_retry_after_capped_and_logged(no_wait: testing, caplog: pytest.LogCaptureFixture) -> None:
    """A Retry-After above the cap waits the cap and logs that it was capped."""
    script = Script(503, 200, headers={"Retry-After": "120"})
    caplog.set_level(logging.WARNING, logger="internal_http")
    async with _client(script, retry_after_cap=10.0) as client:
        assert (await client.get(URL)).status_code == 200
    assert no_wait.sleeps == [10.0]
    capped = [r for r in caplog.records if "capped" in r.getMessage()]
    assert len(capped) == 1
    assert capped[0].http_retry_after == 120.0  # type: ignore[attr-defined]


async def test_total_timeout_stops_retries(no_wait: testing) -> None:
    """A wait that would overrun total_timeout ends the retries with the last response."""
    script = Script(503, 200, headers={"Retry-After": "20"})
    async with _client(script, total_timeout=5.0) as client:
        response = await client.get(URL)
    assert response.status_code == 503
    assert no_wait.sleeps == []


def test_parse_retry_after_forms() -> None:
    """Retry-After parses seconds and HTTP dates; junk and absence give None."""
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    past = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after(date, now=now) == 30.0
    assert parse_retry_after(past, now=now) == 0.0
    assert parse_retry_after("-3") is None  # not delay-seconds: the backoff applies, not "now"
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None


def test_parse_retry_after_naive_date() -> None:
    """An HTTP date without a zone is taken as UTC."""
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Mon, 01 Jan 2024 12:00:10 -0000", now=now) == 10.0


def _breaker_client(script: Script, registry: BreakerRegistry) -> httpx.AsyncClient:
    transport = RetryTransport(
        httpx.MockTransport(script), retry=RetryConfig(attempts=1), breaker_registry=registry
    )
    return httpx.AsyncClient(transport=transport)


async def test_breaker_opens_after_server_errors() -> None:
    """Consecutive 5xx responses open the host's breaker; the next call raises HttpUnavailableError."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=3, reset_timeout=60))
    script = Script(503)
    async with _breaker_client(script, registry) as client:
        statuses = [(await client.get(URL)).status_code for _ in range(3)]
        with pytest.raises(HttpUnavailableError) as info:
            await client.get(URL)
    assert statuses == [503, 503, 503]
    assert info.value.host == "https://api.test"
    assert info.value.retry_after == pytest.approx(60, abs=5)
    assert len(script.requests) == 3
    assert registry.for_url(httpx.URL(URL)).state == "open"


async def test_429_does_not_trip_breaker() -> None:
    """429 responses never open the breaker."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=2))
    script = Script(429)
    async with _breaker_client(script, registry) as client:
        statuses = [(await client.get(URL)).status_code for _ in range(5)]
    assert statuses == [429] * 5
    assert registry.for_url(httpx.URL(URL)).state == "closed"


async def test_breakers_are_per_host() -> None:
    """Each scheme/host/port gets its own breaker."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1))
    script = Script(503)
    async with _breaker_client(script, registry) as client:
        await client.get("https://a.test/")
        script.outcomes = [200]
        response = await client.get("https://b.test:8443/")
    assert response.status_code == 200
    assert len(registry) == 2
    assert "http:https://b.test:8443" in repr(registry)
    assert registry.for_url(httpx.URL("https://a.test/x")).state == "open"


async def test_transport_exceptions_count_once_per_call(no_wait: testing) -> None:
    """Connect errors on every attempt of one call are one failure; the next failed call opens."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=2))
    script = Script(httpx.ConnectError("refused"))
    transport = RetryTransport(
        httpx.MockTransport(script),
        retry=RetryConfig(attempts=5, backoff=BackoffSettings(maximum=0.1)),
        breaker_registry=registry,
    )
    async with httpx.AsyncClient(transport=transport) as client:
        for _ in range(2):
            with pytest.raises(httpx.ConnectError):
                await client.get(URL)
        with pytest.raises(HttpUnavailableError):
            await client.get(URL)
    assert len(script.requests) == 10


@pytest.mark.parametrize(
    "error",
    [
        httpx.PoolTimeout("pool full"),
        httpx.LocalProtocolError("bad header"),
        httpx.UnsupportedProtocol("ftp"),
        RuntimeError("body generator failed"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_local_errors_do_not_count(error: Exception, no_wait: testing) -> None:
    """Errors raised on this side of the connection never count toward the host's breaker."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1))
    script = Script(error)
    async with _breaker_client(script, registry) as client:
        for _ in range(3):
            with pytest.raises(type(error)):
                await client.get(URL)
    assert len(script.requests) == 3
    assert registry.for_url(httpx.URL(URL)).state == "closed"


async def test_local_error_ends_call_after_host_failure(no_wait: testing) -> None:
    """A call whose 503 was followed by a local error still counts the host's failure."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1))
    script = Script(503, httpx.PoolTimeout("pool full"))
    transport = RetryTransport(
        httpx.MockTransport(script), retry=RetryConfig(attempts=2), breaker_registry=registry
    )
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.PoolTimeout):
            await client.get(URL)
    assert registry.for_url(httpx.URL(URL)).state == "open"


async def test_local_error_releases_half_open_probe(no_wait: testing) -> None:
    """A probe ended by a local error leaves the breaker half-open, so the next call probes the host."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1, reset_timeout=0.001))
    breaker = registry.for_url(httpx.URL(URL))
    breaker.record_failure()
    script = Script(httpx.LocalProtocolError("bad header"), 200)
    async with _breaker_client(script, registry) as client:
        async with asyncio.timeout(10):
            while breaker.state != "half_open":
                await asyncio.sleep(0.01)
        with pytest.raises(httpx.LocalProtocolError):
            await client.get(URL)
        state_after_local_error = breaker.state
        response = await client.get(URL)
    assert state_after_local_error == "half_open"
    assert (response.status_code, registry.for_url(httpx.URL(URL)).state) == (200, "closed")


async def test_cancelled_call_is_no_verdict() -> None:
    """A call cancelled while in flight neither opens nor closes the breaker."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1))
    started = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")  # pragma: no cover

    transport = RetryTransport(httpx.MockTransport(hang), breaker_registry=registry)
    async with httpx.AsyncClient(transport=transport) as client:
        task = asyncio.create_task(client.get(URL))
        async with asyncio.timeout(10):
            await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    breaker = registry.for_url(httpx.URL(URL))
    assert (breaker.state, breaker.failure_count) == ("closed", 0)


async def test_default_wrapped_and_properties() -> None:
    """RetryTransport defaults to an AsyncHTTPTransport and exposes its configuration."""
    transport = RetryTransport()
    assert isinstance(transport.wrapped, httpx.AsyncHTTPTransport)
    assert transport.retry == RetryConfig()
    assert transport.breakers is None
    await transport.aclose()


async def test_attempts_one_disables_retries(no_wait: testing) -> None:
    """attempts=1 sends every request once."""
    script = Script(503, 200)
    async with _client(script, attempts=1) as client:
        assert (await client.get(URL)).status_code == 503
    assert len(script.requests) == 1


async def test_total_timeout_counts_skipped_waits(no_wait: testing) -> None:
    """Waits skipped by testing() still use up total_timeout, as real waits would (and RetryPolicy does)."""
    script = Script(503, 503, 503, 503, 200, headers={"Retry-After": "4"})
    async with _client(script, attempts=5, total_timeout=10.0) as client:
        response = await client.get(URL)
    assert response.status_code == 503
    assert no_wait.sleeps == [4.0, 4.0]
    assert len(script.requests) == 3


async def test_waits_follow_the_backoff_settings(no_wait: testing) -> None:
    """The waits are the retry.backoff schedule (internal_base's Backoff): 0.2, 0.6 without jitter."""
    backoff = BackoffSettings(initial=0.2, maximum=1.0, multiplier=3.0, jitter=False)
    async with _client(Script(503, 503, 200), attempts=3, backoff=backoff) as client:
        response = await client.get(URL)
    assert response.status_code == 200
    assert no_wait.sleeps == pytest.approx([0.2, 0.6])


async def test_attempt_timeout_is_a_retried_read_timeout(no_wait: testing) -> None:
    """An attempt that overruns resilience.timeout is an httpx.ReadTimeout, retried like one."""
    calls: list[int] = []

    async def hang_once(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            await asyncio.Event().wait()  # never answers: only the attempt timeout ends it
        return httpx.Response(200)

    transport = RetryTransport(httpx.MockTransport(hang_once), retry=RetryConfig(attempts=2), timeout=0.5)
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get(URL)
    assert (response.status_code, response.extensions[ATTEMPTS_EXTENSION], len(calls)) == (200, 2, 2)


async def test_attempt_timeout_counts_at_the_host() -> None:
    """A call ended by resilience.timeout is a host failure: it opens the breaker and names the timeout."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1, reset_timeout=60))

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    transport = RetryTransport(
        httpx.MockTransport(hang), retry=RetryConfig(attempts=1), timeout=0.5, breaker_registry=registry
    )
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ReadTimeout, match=r"no response within 0.5s \(resilience.timeout\)"):
            await client.get(URL)
    assert registry.for_url(httpx.URL(URL)).state == "open"
    assert transport.last_error(httpx.URL(URL)) == "ReadTimeout: no response within 0.5s (resilience.timeout)"


@pytest.mark.parametrize("timeout", [0, -1.0, float("inf"), float("nan")])
def test_attempt_timeout_must_be_positive(timeout: float) -> None:
    """A per-attempt timeout that is not a finite number > 0 is refused, naming it."""
    with pytest.raises(ValueError, match="timeout must be a finite number of seconds > 0"):
        RetryTransport(httpx.MockTransport(lambda request: httpx.Response(200)), timeout=timeout)


def test_registry_refuses_threshold_zero() -> None:
    """A BreakerRegistry with failure_threshold=0 (breakers off) is refused rather than never opening."""
    with pytest.raises(ValueError, match="failure_threshold >= 1"):
        BreakerRegistry(BreakerConfig(failure_threshold=0))


async def test_open_breaker_error_carries_retry_after_and_last_error() -> None:
    """The open breaker's HttpUnavailableError is a ConnectionError naming the host, wait and last failure."""
    registry = BreakerRegistry(BreakerConfig(failure_threshold=1, reset_timeout=30))
    async with _breaker_client(Script(httpx.ConnectError("refused")), registry) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(URL)
        with pytest.raises(ConnectionError) as info:
            await client.get(URL)
    error = info.value
    assert isinstance(error, HttpUnavailableError)
    assert error.retry_after is not None
    assert 0 < error.retry_after <= 30
    assert (error.host, error.last_error) == ("https://api.test", "ConnectError: refused")
