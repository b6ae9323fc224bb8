"""Pipelines against a real Redis server."""

from __future__ import annotations

from collections.abc import Callable

from internal_cache import CacheClient


async def test_large_pipeline_prefixed(client: CacheClient) -> None:
    """1,000 queued SETs land under the prefix in one round trip."""
    async with client.pipeline() as pipe:
        for i in range(1000):
            pipe.set(f"k{i}", i, ttl=30)
        assert len(pipe) == 1000
        replies = await pipe.execute()
    assert replies == [True] * 1000
    assert await client.mget(["k0", "k999"]) == [b"0", b"999"]
    assert len([k async for k in client.scan_keys("k*", count=500)]) == 1000


async def test_transaction_is_atomic(client: CacheClient) -> None:
    """A MULTI/EXEC pipeline applies all commands and returns every reply in order."""
    await client.set("balance", 10)
    async with client.pipeline(transaction=True) as pipe:
        pipe.decr("balance", 3).incr("other", 3).mget(["balance", "other"])
        replies = await pipe.execute()
    assert replies == [7, 3, [b"7", b"3"]]


async def test_pipeline_reusable_after_execute(client: CacheClient) -> None:
    """The queue empties on execute and the pipeline can be filled again."""
    async with client.pipeline() as pipe:
        pipe.set("a", 1)
        assert await pipe.execute() == [True]
        assert len(pipe) == 0
        pipe.get("a").set_value("j", {"x": 1})
        assert await pipe.execute() == [b"1", True]
    assert await client.get_value("j") == {"x": 1}


async def test_nested_prefix_pipeline(make_client: Callable[..., CacheClient]) -> None:
    """Pipelines of a with_prefix() view use the combined prefix once."""
    base = make_client()
    tenant = base.with_prefix("tenant:")
    async with tenant.pipeline() as pipe:
        pipe.set("k", "v").exists("k")
        assert await pipe.execute() == [True, 1]
    assert await base.get("tenant:k") == b"v"
    assert await base.redis.exists(base.key("tenant:tenant:k")) == 0
