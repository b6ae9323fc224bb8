"""The I/O boundary over fakeredis: reconnection window, breaker, quiet outages, at-most-once."""

from __future__ import annotations

import asyncio
import logging

import pytest
from fakeredis import FakeAsyncRedis, FakeServer

from internal_base.resilience import CircuitBreaker, ResiliencePolicy, testing
from internal_cache import CacheClient, CacheError, CacheSettings, CacheUnavailableError


class Clock:
    """A hand-moved monotonic clock for the breaker."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client_with(fake_redis: FakeAsyncRedis, clock: Clock | None = None, threshold: int = 1) -> CacheClient:
    """A client with the default reconnection policy and a breaker on ``clock``."""
    settings = CacheSettings(key_prefix="c:", health_check=False)
    breaker = CircuitBreaker(
        "cache-test", failure_threshold=threshold, reset_timeout=2.0, clock=clock or Clock()
    )
    default = settings.resilience.to_policy("cache-test")
    policy = ResiliencePolicy(timeout=default.timeout, retry=default.retry, breaker=breaker)
    return CacheClient(settings, redis=fake_redis, policy=policy)


def breaker_of(client: CacheClient) -> CircuitBreaker:
    """The client's breaker (the default settings always have one)."""
    breaker = client.link.breaker
    assert breaker is not None
    return breaker


def default_client(fake_redis: FakeAsyncRedis, **resilience: object) -> CacheClient:
    """A client with the default settings (or the given resilience section) over fakeredis."""
    settings = CacheSettings(key_prefix="c:", health_check=False, resilience=resilience)
    return CacheClient(settings, redis=fake_redis)


async def test_default_window_is_a_duration(fake_server: FakeServer, fake_redis: FakeAsyncRedis) -> None:
    """With default settings a call keeps reconnecting for the whole 10 s window, not 5 attempts."""
    client = client_with(fake_redis)
    fake_server.connected = False
    with testing() as waits, pytest.raises(CacheUnavailableError) as info:
        await client.get("k")
    assert 9.0 <= sum(waits.sleeps) <= 10.0 + 1e-9  # the last pause is cut to the window (float sum)
    assert len(waits.sleeps) > 5
    message = str(info.value)
    assert f"{len(waits.sleeps) + 1} attempts over" in message
    assert "of the 10s reconnection window" in message


async def test_open_circuit_fails_fast_then_probes(
    fake_server: FakeServer, fake_redis: FakeAsyncRedis
) -> None:
    """After a used-up window calls fail without touching Redis; after the reset one probe closes it."""
    clock = Clock()
    client = client_with(fake_redis, clock)
    fake_server.connected = False
    with testing(), pytest.raises(CacheUnavailableError, match="reconnection window"):
        await client.get("k")
    fake_server.connected = True  # back, but nobody knows yet
    with testing() as waits:
        for _ in range(20):
            with pytest.raises(CacheUnavailableError, match="circuit open"):
                await client.set("k", 1)
    assert waits.sleeps == []  # no retrying while the circuit is open
    assert client.stats.rejected == 20
    assert await fake_redis.exists("c:k") == 0
    clock.now += 2.0
    assert await client.set("k", 1) is True  # the probe
    assert breaker_of(client).state == "closed"
    assert await client.get("k") == b"1"


async def test_outage_logs_one_line_per_state_change(
    fake_server: FakeServer, fake_redis: FakeAsyncRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """Hundreds of failed calls log one WARNING going down and one coming back; the rest is counted."""
    clock = Clock()
    client = client_with(fake_redis, clock)
    fake_server.connected = False
    with caplog.at_level(logging.INFO, logger="internal_cache"), testing():
        for _ in range(300):
            with pytest.raises(CacheUnavailableError):
                await client.get("k")
        fake_server.connected = True
        clock.now += 2.0
        assert await client.get("k") is None
        assert await client.get("k") is None
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("internal_cache")]
    assert len(lines) == 2
    assert "stopped answering" in lines[0]
    assert "answers again" in lines[1]
    assert client.stats.outages == client.stats.recoveries == 1
    assert client.stats.failures == 1
    assert client.stats.rejected == 299


async def test_logical_call_counts_once(fake_server: FakeServer, fake_redis: FakeAsyncRedis) -> None:
    """A call that made many attempts counts one failure toward the breaker."""
    client = client_with(fake_redis, threshold=3)
    fake_server.connected = False
    with testing() as waits, pytest.raises(CacheUnavailableError):
        await client.get("k")
    assert len(waits.sleeps) > 3
    assert breaker_of(client).failure_count == 1
    assert breaker_of(client).state == "closed"


async def test_success_within_window_closes_outage(
    fake_server: FakeServer, fake_redis: FakeAsyncRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """A call that reconnects within its window succeeds and records no breaker failure."""
    client = client_with(fake_redis, threshold=1)
    await client.set("k", "v")
    fake_server.connected = False
    calls = 0

    async def flaky_get(key: str) -> bytes | None:
        nonlocal calls
        calls += 1
        if calls == 3:
            fake_server.connected = True
        value: bytes | None = await fake_redis.get(key)  # type: ignore[assignment]
        return value

    with caplog.at_level(logging.INFO, logger="internal_cache"), testing():
        assert await client.call(flaky_get, "c:k", idempotent=True) == b"v"
    assert calls == 3
    assert breaker_of(client).state == "closed"
    assert breaker_of(client).failure_count == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "internal_cache"]
    assert len(lines) == 2
    assert "stopped answering" in lines[0]
    assert "answers again" in lines[1]


async def test_incr_in_flight_is_not_retried(fake_server: FakeServer, fake_redis: FakeAsyncRedis) -> None:
    """INCR/DECR whose connection breaks after sending raise instead of running twice."""
    client = default_client(fake_redis)
    assert await client.incr("n") == 1  # the pooled connection is now open
    fake_server.connected = False
    with testing() as waits, pytest.raises(CacheUnavailableError, match="may have run; not retried"):
        await client.incr("n")
    fake_server.connected = True
    assert await client.decr("n") == 0  # reconnected
    fake_server.connected = False
    with testing() as more, pytest.raises(CacheUnavailableError, match="may have run; not retried"):
        await client.decr("n")
    assert waits.sleeps == more.sleeps == []
    assert client.stats.not_retried == 2
    fake_server.connected = True
    assert await client.get("n") == b"0"


async def test_opaque_call_is_not_retried(fake_server: FakeServer, fake_redis: FakeAsyncRedis) -> None:
    """call() of a callable that is not one redis-py command is never replayed unless idempotent."""
    client = default_client(fake_redis)
    runs = 0

    async def two_commands() -> None:
        nonlocal runs
        runs += 1
        await fake_redis.incr("c:a")
        fake_server.connected = False
        await fake_redis.incr("c:b")

    with testing(), pytest.raises(CacheUnavailableError, match="may have run"):
        await client.call(two_commands)
    assert runs == 1
    fake_server.connected = True
    assert await client.mget(["a", "b"]) == [b"1", None]


async def test_pipeline_with_incr_not_replayed(fake_server: FakeServer, fake_redis: FakeAsyncRedis) -> None:
    """A pipeline holding INCR is not replayed once it may have been sent; a pure-SET one is."""
    client = default_client(fake_redis)
    await client.set("warm", 1)
    async with client.pipeline() as pipe:
        fake_server.connected = False
        pipe.set("a", 1).incr("n")
        with testing(), pytest.raises(CacheUnavailableError, match="may have run"):
            await pipe.execute()
        assert len(pipe) == 0
    fake_server.connected = True
    assert await client.exists("n") == 0


async def test_open_circuit_ends_waiting_calls(fake_server: FakeServer, fake_redis: FakeAsyncRedis) -> None:
    """When one call's window runs out, calls still reconnecting give up instead of waiting theirs."""
    client = default_client(
        fake_redis, retry={"total_timeout": 3.0, "backoff": {"initial": 0.01, "maximum": 0.05}}
    )
    fake_server.connected = False
    loop = asyncio.get_running_loop()
    start = loop.time()
    first = asyncio.create_task(client.get("a"))
    await asyncio.sleep(2.0)
    later = [asyncio.create_task(client.get(f"k{i}")) for i in range(5)]
    results = await asyncio.gather(first, *later, return_exceptions=True)
    elapsed = loop.time() - start
    assert all(isinstance(r, CacheUnavailableError) for r in results)
    assert elapsed < 4.5  # the later calls' own windows would have run until 5 s
    assert all("circuit opened" in str(r) for r in results[1:])


async def test_failed_probe_reopens_and_error_reply_closes(
    fake_server: FakeServer, fake_redis: FakeAsyncRedis
) -> None:
    """A probe that finds Redis still down reopens the circuit; an error reply proves it is up."""
    clock = Clock()
    client = client_with(fake_redis, clock)
    await fake_redis.lpush("c:list", "x")
    fake_server.connected = False
    with testing(), pytest.raises(CacheUnavailableError, match="reconnection window"):
        await client.get("k")
    clock.now += 2.0
    with pytest.raises(CacheUnavailableError, match="still unreachable"):
        await client.get("k")  # the probe
    assert breaker_of(client).state == "open"
    fake_server.connected = True
    clock.now += 2.0
    with pytest.raises(CacheError, match="WRONGTYPE"):
        await client.get("list")  # the probe gets an answer: Redis is up
    assert (breaker_of(client).state, client.link.down) == ("closed", False)


async def test_open_circuit_error_carries_retry_after(
    fake_server: FakeServer, fake_redis: FakeAsyncRedis
) -> None:
    """The call that opens the circuit and the calls it rejects say when the probe is due."""
    clock = Clock()
    client = client_with(fake_redis, clock)
    fake_server.connected = False
    with testing(), pytest.raises(CacheUnavailableError) as opened:
        await client.get("k")
    assert opened.value.retry_after == 2.0
    clock.now += 0.5
    with pytest.raises(CacheUnavailableError, match="circuit open") as rejected:
        await client.get("k")
    assert rejected.value.retry_after == pytest.approx(1.5)


async def test_window_error_without_open_circuit_has_no_retry_after(
    fake_server: FakeServer, fake_redis: FakeAsyncRedis
) -> None:
    """A used-up window that did not open the circuit gives no retry_after."""
    client = client_with(fake_redis, threshold=3)
    fake_server.connected = False
    with testing(), pytest.raises(CacheUnavailableError) as info:
        await client.get("k")
    assert info.value.retry_after is None


async def test_nested_unavailable_error_is_not_retried(fake_redis: FakeAsyncRedis) -> None:
    """A CacheUnavailableError (an OSError) raised inside call() propagates unretried and unwrapped."""
    client = default_client(fake_redis)
    runs = 0
    inner = CacheUnavailableError("inner", retry_after=3.0)

    async def fails() -> None:
        nonlocal runs
        runs += 1
        raise inner

    with testing() as waits, pytest.raises(CacheUnavailableError) as info:
        await client.call(fails, idempotent=True)
    assert (info.value, runs, waits.sleeps) == (inner, 1, [])
    assert client.stats.outages == 0


async def test_breaker_off_keeps_reconnecting(fake_server: FakeServer, fake_redis: FakeAsyncRedis) -> None:
    """breaker.failure_threshold=0 turns the breaker off: every call gets its own window."""
    client = default_client(fake_redis, breaker={"failure_threshold": 0}, retry={"total_timeout": 1.0})
    assert client.link.breaker is None
    fake_server.connected = False
    for _ in range(3):
        with testing() as waits, pytest.raises(CacheUnavailableError, match="reconnection window"):
            await client.get("k")
        assert waits.sleeps  # no fail-fast: it reconnected again
    fake_server.connected = True
    assert await client.get("k") is None


async def test_one_attempt_without_retry(fake_server: FakeServer, fake_redis: FakeAsyncRedis) -> None:
    """retry.attempts=1 fails a call at its first connection error, without waiting."""
    client = default_client(fake_redis, retry={"attempts": 1})
    fake_server.connected = False
    with testing() as waits, pytest.raises(CacheUnavailableError, match="1 attempts"):
        await client.get("k")
    assert waits.sleeps == []
