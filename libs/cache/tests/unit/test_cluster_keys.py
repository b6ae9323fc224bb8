"""Hash slots: same-slot checks, lock fence keys, hash-tag prefixes, cluster error translation."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import pytest
import redis.exceptions
from fakeredis import FakeAsyncRedis

from internal_cache import CacheClient, CacheCrossSlotError, CacheError
from internal_cache._cluster import (
    NotSentError,
    fence_key,
    has_hash_tag,
    require_one_slot,
    slot_of,
    translate,
)
from internal_cache._connection import maybe_sent
from internal_cache._keys import FENCE_MARK


def test_slot_of_matches_redis_cluster() -> None:
    """CRC16 slots as Redis computes them (values from CLUSTER KEYSLOT); tags hash alone."""
    assert slot_of("foo") == 12182
    assert slot_of("bar") == 5061
    assert slot_of("{user1000}.following") == slot_of("{user1000}.followers") == slot_of("user1000")
    assert slot_of("foo{}{bar}") == slot_of("foo{}{bar}")  # empty first tag: the whole key
    assert slot_of("foo{}{bar}") != slot_of("bar")
    assert slot_of(b"foo") == 12182


@pytest.mark.parametrize(
    ("key", "tagged"),
    [("a{b}c", True), ("{x}", True), ("a{}b", False), ("a{b", False), ("ab}", False), ("plain", False)],
)
def test_has_hash_tag(key: str, tagged: bool) -> None:
    """A tag is the first '{' with a later '}' and something between."""
    assert has_hash_tag(key) is tagged


@pytest.mark.parametrize("key", ["app:jobs:nightly", "app:{tenant}:job", "a{b", "{x}}", "é:lock"])
def test_fence_key_shares_the_lock_slot(key: str) -> None:
    """The fencing counter hashes to the lock key's slot and carries the reserved marker."""
    fence = fence_key(key)
    assert fence.startswith(FENCE_MARK)
    assert slot_of(fence) == slot_of(key)
    assert fence != key


@pytest.mark.parametrize("key", ["a{}b{c}", "x}y{", "{}", "a}b"])
def test_fence_key_refuses_keys_whose_braces_cannot_be_tagged(key: str) -> None:
    """A '}' outside a tag leaves no counter name that hashes to the key's slot: refused, named."""
    with pytest.raises(ValueError, match="cannot share a hash slot") as info:
        fence_key(key)
    assert repr(key) in str(info.value)


def test_require_one_slot_names_keys_by_slot() -> None:
    """Keys of several slots: CacheCrossSlotError listing the caller's keys per slot."""
    require_one_slot("mset", ["p:{t}a", "p:{t}b"])  # one slot: fine
    require_one_slot("mset", ["only"])
    with pytest.raises(CacheCrossSlotError) as info:
        require_one_slot("mset", ["p:{foo}", "p:{bar}", "p:{foo}x"], ["a", "b", "c"])
    error = info.value
    assert isinstance(error, CacheError)
    assert isinstance(error, ValueError)
    assert error.slots == {12182: ["a", "c"], 5061: ["b"]}
    for part in ("mset", "slot 12182: 'a', 'c'", "slot 5061: 'b'", "hash tag"):
        assert part in str(error)
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.slots) == (str(error), error.slots)


def test_translate_cluster_errors() -> None:
    """Cross-slot errors name keys; a topology in flux is a not-sent connection error."""
    crossed = translate(
        redis.exceptions.RedisClusterException("MGET - all keys must map to the same key slot"),
        ("MGET", "foo", "bar"),
    )
    assert isinstance(crossed, CacheCrossSlotError)
    assert crossed.slots == {12182: ["foo"], 5061: ["bar"]}
    moving = translate(redis.exceptions.SlotNotCoveredError("Slot 5 is not covered by the cluster."))
    assert isinstance(moving, NotSentError)
    assert not maybe_sent(moving)
    down = translate(redis.exceptions.RedisClusterException("Redis Cluster cannot be connected."))
    assert isinstance(down, NotSentError)
    keyless = translate(redis.exceptions.RedisClusterException("No way to dispatch this command"), ("PING",))
    assert isinstance(keyless, redis.exceptions.DataError)
    assert "target_nodes" in str(keyless)
    other = translate(redis.exceptions.RedisClusterException("something else"))
    assert type(other) is redis.exceptions.RedisError
    assert "something else" in str(other)
    assert not maybe_sent(redis.exceptions.ClusterDownError("CLUSTERDOWN"))
    assert not maybe_sent(redis.exceptions.TryAgainError("TRYAGAIN"))


async def test_same_slot_prefix(fake_redis: FakeAsyncRedis, make_cache: Callable[..., CacheClient]) -> None:
    """with_prefix(same_slot=True) wraps the suffix in a hash tag; bad suffixes are refused."""
    cache = make_cache(key_prefix="app:")
    view = cache.with_prefix("tenant:7", same_slot=True)
    assert view.prefix.prefix == "app:{tenant:7}"
    assert slot_of(view.key("a")) == slot_of(view.key("b")) == slot_of("tenant:7")
    await view.set("a", 1)
    assert await fake_redis.get("app:{tenant:7}a") == b"1"
    for bad in ("", "x{y", "x}"):
        with pytest.raises(ValueError, match="same_slot suffix"):
            cache.with_prefix(bad, same_slot=True)
    assert cache.mode == "standalone"
    assert not cache.cluster
    await cache.aclose()
