"""Review cases against real Redis: lock aliasing, TTL edges, use after aclose, URL secrets."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from internal_cache import CacheClient, CacheError, CacheSettings
from internal_cache._pool import IdleClosingPool


async def test_fencing_tokens_grow_for_one_key_reached_through_two_namespaces(
    make_client: Callable[..., CacheClient],
) -> None:
    """A lock key reached as prefix ``a:`` + ``jobs:x`` or ``a:jobs:`` + ``x`` has one fence counter."""
    client = make_client()
    view = client.with_prefix("jobs:")
    tokens = []
    for lock in (client.lock("jobs:x"), view.lock("x"), client.lock("jobs:x")):
        async with lock:
            tokens.append(lock.fencing_token)
    assert tokens == sorted(tokens)
    assert len(set(tokens)) == 3


@pytest.mark.parametrize("ttl", [math.inf, -math.inf, True, 1e300])
async def test_unusable_ttl_is_rejected_before_sending(client: CacheClient, ttl: float) -> None:
    """An infinite, boolean or too large TTL raises ValueError/TypeError naming the ttl; nothing written."""
    with pytest.raises((ValueError, TypeError), match="ttl"):
        await client.set("k", b"v", ttl=ttl)
    assert await client.get("k") is None


async def test_timedelta_ttl_is_seconds(client: CacheClient) -> None:
    """A timedelta TTL is applied as its total seconds."""
    await client.set("k", b"v", ttl=timedelta(minutes=2))
    remaining = await client.ttl("k")
    assert remaining is not None
    assert 100 < remaining <= 120


async def test_use_after_aclose_raises_a_clear_error(redis_url: str, redis_key_prefix: str) -> None:
    """A command on a closed client raises CacheError saying it is closed and reaches no server."""
    client = CacheClient(
        CacheSettings(url=SecretStr(redis_url), key_prefix=f"{redis_key_prefix}closed:", health_check=False)
    )
    await client.set("k", b"v", ttl=30)
    await client.aclose()
    with pytest.raises(CacheError, match="closed"):
        await client.get("k")
    with pytest.raises(CacheError, match="closed"):
        await client.set("k", b"w", ttl=30)
    with pytest.raises(CacheError, match="closed"):
        await client.delete("k")
    await client.aclose()  # still idempotent
    async with CacheClient(
        CacheSettings(url=SecretStr(redis_url), key_prefix=f"{redis_key_prefix}closed:", health_check=False)
    ) as other:
        assert await other.get("k") == b"v"  # the refused set/delete never reached the server
        await other.delete("k")


@pytest.mark.parametrize("password", ["a@b/c:d%", "p?s3cr3t@x", "p#s3cr3t@x"])
def test_unencoded_reserved_characters_in_password_are_rejected_without_echo(password: str) -> None:
    """A password with raw ``@ / ? #`` is refused with a hint to percent-encode, never echoing it."""
    with pytest.raises(ValueError, match="percent-encode") as info:
        CacheSettings(url=SecretStr(f"redis://user:{password}@127.0.0.1:6379/0"))
    for part in ("b/c", "s3cr3t"):
        assert part not in str(info.value)


def test_percent_encoded_password_is_accepted_and_masked() -> None:
    """A percent-encoded password with ``/ @ : %`` loads and is masked everywhere."""
    settings = CacheSettings(url=SecretStr("redis://user:a%40b%2Fc%3Ad%25@127.0.0.1:6379/0"))
    client = CacheClient(settings)
    text = f"{client!r} {client.url} {settings.redacted_url} {settings!r}"
    for part in ("a%40b", "2Fc", "a@b", "b/c"):
        assert part not in text
    assert isinstance(client.redis, aioredis.Redis)
    assert client.redis.connection_pool.connection_kwargs["password"] == "a@b/c:d%"


async def test_aclose_lets_commands_in_flight_finish(make_client: Callable[..., CacheClient]) -> None:
    """aclose() waits for commands already running (within drain_timeout) instead of cutting them off."""
    client = make_client()
    helper = make_client()
    key = client.key("queue")
    calls = [asyncio.create_task(client.call(client.redis.blpop, [key], 30)) for _ in range(3)]
    assert isinstance(client.redis, aioredis.Redis)
    pool = client.redis.connection_pool
    assert isinstance(pool, IdleClosingPool)
    deadline = time.monotonic() + 30
    while pool.in_use_connections < 3:  # all three are blocked in BLPOP
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    closing = asyncio.create_task(client.aclose(drain_timeout=60))
    await asyncio.sleep(0.1)
    await helper.call(helper.redis.rpush, key, b"1", b"2", b"3")
    await asyncio.wait_for(closing, timeout=60)
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert sorted(results, key=repr) == [(key.encode(), b"1"), (key.encode(), b"2"), (key.encode(), b"3")]


async def test_pipeline_expire_takes_a_timedelta(client: CacheClient) -> None:
    """A pipeline's expire() accepts a timedelta like the client's."""
    await client.set("k", b"v")
    async with client.pipeline() as pipe:
        pipe.expire("k", timedelta(minutes=2)).pttl("k")
        replies = await pipe.execute()
    assert replies[0] == 1
    assert 100_000 < replies[1] <= 120_000
