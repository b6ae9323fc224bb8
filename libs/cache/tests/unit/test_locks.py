"""Lock over fakeredis: ownership, blocking, cancellation, renewal, loss and fencing."""

from __future__ import annotations

import asyncio

import pytest
from fakeredis import FakeAsyncRedis, FakeServer

from internal_base.resilience import Backoff, testing
from internal_cache import (
    CacheClient,
    CacheError,
    LockAcquireTimeout,
    LockError,
    LockLostError,
    LockNotOwnedError,
)
from internal_cache._keys import FENCE_MARK
from internal_cache._lock import _ACQUIRE

FENCE = FENCE_MARK + "app:"


async def test_acquire_release(cache: CacheClient, fake_redis: FakeAsyncRedis) -> None:
    """acquire stores a random token under the prefixed key; release deletes it."""
    lock = cache.lock("job", ttl=60)
    assert await lock.acquire() is True
    assert lock.held
    assert not lock.lost
    assert lock.key == "app:job"
    assert lock.name == "job"
    assert lock.ttl == 60
    assert await fake_redis.get("app:job") == lock.token.encode()  # type: ignore[union-attr]
    assert 50_000 < await fake_redis.pttl("app:job") <= 60_000
    assert 50 < lock.remaining <= 60
    assert await lock.owned() is True
    await lock.release()
    assert await fake_redis.exists("app:job") == 0
    assert lock.token is None
    assert lock.remaining == 0.0
    assert await lock.owned() is False


async def test_other_holder_cannot_release_or_extend(cache: CacheClient) -> None:
    """Only the token owner can release or extend."""
    first = cache.lock("x", ttl=5)
    second = cache.lock("x", ttl=5)
    await first.acquire()
    assert await second.acquire(blocking=False) is False
    with pytest.raises(LockNotOwnedError, match="not held"):
        await second.release()
    with pytest.raises(LockNotOwnedError, match="not held"):
        await second.extend()
    assert await first.owned() is True
    await first.release()
    assert await second.acquire(blocking=False) is True
    await second.release()


async def test_release_after_takeover_raises_lost(cache: CacheClient, fake_redis: FakeAsyncRedis) -> None:
    """Releasing after the key expired and was taken raises LockLostError and keeps the new owner."""
    lock = cache.lock("x", ttl=5)
    await lock.acquire()
    await fake_redis.set("app:x", "someone-else")
    with pytest.raises(LockLostError, match="no longer owned"):
        await lock.release()
    assert await fake_redis.get("app:x") == b"someone-else"


async def test_blocking_timeout(cache: CacheClient) -> None:
    """A blocking acquire gives up with LockAcquireTimeout (a TimeoutError)."""
    holder = cache.lock("busy", ttl=5)
    await holder.acquire()
    waiter = cache.lock("busy", ttl=5, timeout=0.05, retry_interval=0.01)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(LockAcquireTimeout, match="not acquired within 0.05s"):
        await waiter.acquire()
    assert 0.04 < loop.time() - start < 10.0
    with pytest.raises(TimeoutError):
        await waiter.acquire(timeout=0)
    await holder.release()


async def test_acquire_polls_on_the_given_backoff(cache: CacheClient) -> None:
    """While the lock is busy, acquire waits follow the Backoff it was given."""
    holder = cache.lock("busy", ttl=30)
    await holder.acquire()
    waiter = cache.lock("busy", ttl=30, backoff=Backoff(initial=0.001, maximum=0.004, jitter=False))
    with testing() as waits, pytest.raises(LockAcquireTimeout):
        await waiter.acquire(timeout=1.0)  # waits are skipped: about 1 s of polling
    assert waits.sleeps[:3] == [0.001, 0.002, 0.004]
    assert max(waits.sleeps) == 0.004
    await holder.release()


async def test_default_polling_averages_retry_interval(cache: CacheClient) -> None:
    """Without a backoff, pauses are drawn from [0, 2 * retry_interval] (mean retry_interval)."""
    holder = cache.lock("busy", ttl=30)
    await holder.acquire()
    waiter = cache.lock("busy", ttl=30, retry_interval=0.1)
    with testing() as waits, pytest.raises(LockAcquireTimeout):
        await waiter.acquire(timeout=0.5)
    assert waits.sleeps
    assert all(0 <= pause <= 0.2 for pause in waits.sleeps)
    await holder.release()


async def test_blocking_acquire_waits_for_release(cache: CacheClient) -> None:
    """A waiter gets the lock soon after the holder releases it."""
    holder = cache.lock("w", ttl=5)
    await holder.acquire()
    waiter = cache.lock("w", ttl=5, retry_interval=0.005)
    task = asyncio.create_task(waiter.acquire(timeout=None))
    await asyncio.sleep(0.03)
    assert not task.done()
    await holder.release()
    assert await asyncio.wait_for(task, 10) is True
    assert waiter.held
    await waiter.release()


async def test_mutual_exclusion_between_tasks(cache: CacheClient) -> None:
    """20 tasks doing read-modify-write under the lock never lose an update."""

    async def worker() -> None:
        for _ in range(10):
            async with cache.lock("counter-lock", ttl=30, timeout=120, retry_interval=0.005):
                value = int(await cache.get("counter") or 0)
                await asyncio.sleep(0)
                await cache.set("counter", value + 1)

    await asyncio.gather(*(worker() for _ in range(20)))
    assert await cache.get("counter") == b"200"


async def test_fencing_tokens_increase(cache: CacheClient, fake_redis: FakeAsyncRedis) -> None:
    """Each acquisition gets a larger fencing token from the companion counter."""
    tokens = []
    for _ in range(3):
        async with cache.lock("f", ttl=5) as lock:
            tokens.append(lock.fencing_token)
    assert tokens == [tokens[0], tokens[0] + 1, tokens[0] + 2]
    assert await fake_redis.get(FENCE + "f") == str(tokens[2]).encode()
    with pytest.raises(LockNotOwnedError):
        _ = lock.fencing_token


async def test_fencing_disabled(cache: CacheClient, fake_redis: FakeAsyncRedis) -> None:
    """fencing=False issues no token and touches no counter."""
    async with cache.lock("nf", ttl=5, fencing=False) as lock:
        with pytest.raises(LockError, match="fencing=False"):
            _ = lock.fencing_token
    assert await fake_redis.exists(FENCE + "nf") == 0


async def test_acquire_script_is_idempotent(cache: CacheClient) -> None:
    """Re-running acquire with the same token (a retry after a lost reply) succeeds, same fence."""
    keys, args = ("app:i", FENCE + "i"), ("tok", 5000, "1")
    fence = await _ACQUIRE.run(cache.redis, keys, args)
    assert fence > 1
    assert await _ACQUIRE.run(cache.redis, keys, args) == fence
    assert await _ACQUIRE.run(cache.redis, keys, ("other", 5000, "1")) == 0
    assert await _ACQUIRE.run(cache.redis, ("app:j", FENCE + "j"), ("t", 5000, "0")) == 1
    assert await _ACQUIRE.run(cache.redis, ("app:j", FENCE + "j"), ("t", 5000, "0")) == 1


async def test_script_reloaded_after_flush(cache: CacheClient) -> None:
    """After SCRIPT FLUSH the lock falls back to EVAL and keeps working."""
    async with cache.lock("s", ttl=5):
        pass
    await cache.redis.script_flush()
    async with cache.lock("s", ttl=5) as lock:
        assert lock.held
    assert await cache.exists("s") == 0


async def test_context_manager_releases_on_exception(cache: CacheClient) -> None:
    """An exception in the body releases the lock and propagates unchanged."""
    with pytest.raises(RuntimeError, match="body failed"):
        async with cache.lock("e", ttl=5):
            raise RuntimeError("body failed")
    assert await cache.exists("e") == 0


async def test_body_error_not_masked_by_lost_lock(cache: CacheClient, fake_redis: FakeAsyncRedis) -> None:
    """If the body fails and the lock was also lost, the body's error wins."""
    lock = cache.lock("m", ttl=5)

    async def body() -> None:
        async with lock:
            await fake_redis.delete("app:m")
            raise KeyError("body")

    with pytest.raises(KeyError, match="body"):
        await body()
    assert lock.token is None


async def test_cancelled_holder_releases(cache: CacheClient) -> None:
    """Cancelling a task inside the critical section releases the lock."""
    entered = asyncio.Event()

    async def holder() -> None:
        async with cache.lock("c", ttl=30):
            entered.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(holder())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await cache.exists("c") == 0


async def test_release_survives_cancellation_mid_release(cache: CacheClient) -> None:
    """Cancelling release() itself still lets the shielded release finish (redis-py #3847)."""
    lock = cache.lock("mid", ttl=30)
    await lock.acquire()
    task = asyncio.create_task(lock.release())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await cache.aclose()  # drains pending releases
    assert await cache.redis.exists("app:mid") == 0


async def test_cancelled_acquire_leaves_no_key(cache: CacheClient) -> None:
    """A cancel at any point of acquire leaves either a held lock or no key at all."""
    cancelled = 0
    for yields in range(4):
        lock = cache.lock(f"ca{yields}", ttl=30)
        task = asyncio.create_task(lock.acquire())
        for _ in range(yields):
            await asyncio.sleep(0)
        task.cancel()
        outcome = await asyncio.gather(task, return_exceptions=True)
        await asyncio.gather(*cache._pending)  # let the compensating release finish
        if isinstance(outcome[0], asyncio.CancelledError):
            cancelled += 1
            assert lock.token is None
            assert await cache.exists(f"ca{yields}") == 0
        else:
            assert outcome[0] is True
            await lock.release()
    assert cancelled >= 1  # at least the cancel-before-start case


async def test_extend(cache: CacheClient, fake_redis: FakeAsyncRedis) -> None:
    """extend() resets the TTL of a held lock; LockLostError when the key is gone."""
    lock = cache.lock("ext", ttl=1)
    await lock.acquire()
    await lock.extend(10)
    assert 9000 < await fake_redis.pttl("app:ext") <= 10000
    assert lock.remaining > 9
    await lock.extend()
    assert await fake_redis.pttl("app:ext") <= 1000
    await fake_redis.delete("app:ext")
    with pytest.raises(LockLostError, match="could not be extended"):
        await lock.extend()
    assert lock.lost
    with pytest.raises(LockLostError):
        lock.ensure_held()


async def test_auto_renewal_outlives_ttl(cache: CacheClient) -> None:
    """With auto_renew the holder keeps the lock well past its TTL while a waiter waits."""
    lock = cache.lock("ar", ttl=1.0, auto_renew=True)
    other = cache.lock("ar", ttl=1.0, timeout=2.5, retry_interval=0.02)
    async with lock:
        with pytest.raises(LockAcquireTimeout):
            await other.acquire()
        lock.ensure_held()
        await lock.verify()
        assert lock.held
    assert await cache.exists("ar") == 0
    assert await other.acquire(timeout=5) is True
    await other.release()


async def test_without_renewal_lock_is_presumed_lost(cache: CacheClient) -> None:
    """Past its TTL an unrenewed lock reports lost locally and on exit."""
    lock = cache.lock("exp", ttl=0.05)
    observed: list[bool] = []

    async def body() -> None:
        async with lock:
            await asyncio.wait_for(lock.wait_lost(), 10)
            observed.append(lock.lost)
            with pytest.raises(LockLostError, match="outlived its ttl"):
                lock.ensure_held()

    with pytest.raises(LockLostError, match="outlived its ttl"):
        await body()
    assert observed == [True]


async def test_lost_lock_is_reported(cache: CacheClient, fake_redis: FakeAsyncRedis) -> None:
    """When renewal finds the key taken, the holder learns via lost/ensure_held/wait_lost/on_lost."""
    seen: list[str] = []
    lock = cache.lock(
        "lost", ttl=5, auto_renew=True, renew_interval=0.02, on_lost=lambda lk: seen.append(lk.name)
    )
    await lock.acquire()
    await fake_redis.set("app:lost", "thief")
    error = await asyncio.wait_for(lock.wait_lost(), 10)
    assert isinstance(error, LockLostError)
    assert seen == ["lost"]
    assert lock.lost
    assert not lock.held
    with pytest.raises(LockLostError, match="taken over"):
        lock.ensure_held()
    with pytest.raises(LockLostError):
        await lock.verify()
    assert "lost" in repr(lock)
    with pytest.raises(LockLostError):
        await lock.release()
    assert await fake_redis.get("app:lost") == b"thief"
    assert isinstance(await lock.wait_lost(), LockLostError)


async def test_renewal_tolerates_short_outage(cache: CacheClient, fake_server: FakeServer) -> None:
    """A brief connection loss shorter than the TTL does not lose the lock."""
    lock = cache.lock("outage", ttl=3, auto_renew=True, renew_interval=0.05)
    await lock.acquire()
    fake_server.connected = False
    await asyncio.sleep(0.3)
    fake_server.connected = True
    await asyncio.sleep(0.3)
    lock.ensure_held()
    await lock.release()
    assert await cache.exists("outage") == 0


async def test_renewal_gives_up_after_ttl_outage(cache: CacheClient, fake_server: FakeServer) -> None:
    """If the server stays unreachable past the TTL the lock is marked lost."""
    lock = cache.lock("down", ttl=0.15, auto_renew=True, renew_interval=0.03)
    await lock.acquire()
    fake_server.connected = False
    error = await asyncio.wait_for(lock.wait_lost(), 10)
    assert "renewed in time" in str(error)
    fake_server.connected = True
    with pytest.raises(LockLostError):
        await lock.release()
    assert await cache.exists("down") == 0


async def test_on_lost_callback_errors_are_contained(cache: CacheClient, fake_redis: FakeAsyncRedis) -> None:
    """A raising on_lost callback does not break loss bookkeeping."""

    def bad_callback(_: object) -> None:
        raise RuntimeError("callback bug")

    lock = cache.lock("cb", ttl=5, auto_renew=True, renew_interval=0.02, on_lost=bad_callback)
    await lock.acquire()
    await fake_redis.delete("app:cb")
    await asyncio.wait_for(lock.wait_lost(), 10)
    assert lock.lost


async def test_double_acquire_and_validation(cache: CacheClient) -> None:
    """A Lock object is not re-entrant and validates its arguments."""
    lock = cache.lock("d", ttl=5)
    await lock.acquire()
    with pytest.raises(LockError, match="already held"):
        await lock.acquire()
    await lock.release()
    with pytest.raises(LockNotOwnedError):
        await lock.release()
    with pytest.raises(LockNotOwnedError):
        lock.ensure_held()
    assert "free" in repr(lock)
    with pytest.raises(ValueError, match="name"):
        cache.lock("")
    with pytest.raises(ValueError, match="ttl"):
        cache.lock("v", ttl=0)
    with pytest.raises(ValueError, match="retry_interval"):
        cache.lock("v", retry_interval=0)
    with pytest.raises(ValueError, match="timeout"):
        cache.lock("v", timeout=-1)
    with pytest.raises(ValueError, match="renew_interval"):
        cache.lock("v", ttl=1, renew_interval=2)


async def test_lock_reusable_after_release(cache: CacheClient) -> None:
    """The same Lock object can be acquired again after release, with a new token."""
    lock = cache.lock("again", ttl=5)
    await lock.acquire()
    first, first_fence = lock.token, lock.fencing_token
    await lock.release()
    await lock.acquire()
    assert lock.token != first
    assert lock.fencing_token == first_fence + 1
    await lock.release()


async def test_explicit_release_inside_block(cache: CacheClient) -> None:
    """Releasing explicitly inside ``async with`` does not fail on exit."""
    async with cache.lock("explicit", ttl=5) as lock:
        await lock.release()
        assert await cache.exists("explicit") == 0
    assert lock.token is None


async def test_wait_lost_without_renewal_returns_at_expiry(cache: CacheClient) -> None:
    """Without auto_renew nothing extends the lock: wait_lost returns once its TTL has run out."""
    seen: list[str] = []
    lock = cache.lock("nr", ttl=1.0, on_lost=lambda lk: seen.append(lk.name))
    await lock.acquire()
    lock.ensure_held()  # a whole second of validity: no scheduling delay reaches it
    error = await asyncio.wait_for(lock.wait_lost(), 10)
    assert "outlived its ttl" in str(error)
    assert seen == ["nr"]
    assert lock.lost
    with pytest.raises(LockLostError, match="outlived its ttl"):
        lock.ensure_held()
    with pytest.raises(LockLostError):
        await lock.release()
    assert await cache.exists("nr") == 0


async def test_on_lost_fires_at_expiry_without_awaiting(cache: CacheClient) -> None:
    """Without auto_renew, on_lost is called when the TTL runs out even if nobody awaits wait_lost."""
    fired = asyncio.Event()
    lock = cache.lock("timer", ttl=0.2, on_lost=lambda lk: fired.set())
    await lock.acquire()
    await asyncio.wait_for(fired.wait(), 10)
    assert lock.lost
    with pytest.raises(LockLostError, match="outlived its ttl"):
        lock.ensure_held()


async def test_on_lost_not_fired_after_release(cache: CacheClient) -> None:
    """A lock released in time never reports a loss, even after its TTL would have run out."""
    seen: list[str] = []
    lock = cache.lock("released", ttl=0.1, on_lost=lambda lk: seen.append(lk.name))
    await lock.acquire()
    await lock.release()
    await asyncio.sleep(0.3)
    assert seen == []


async def test_extend_moves_the_expiry_timer(cache: CacheClient) -> None:
    """extend() postpones the on_lost timer of a lock without auto_renew."""
    fired = asyncio.Event()
    lock = cache.lock("moved", ttl=1.0, on_lost=lambda lk: fired.set())
    await lock.acquire()
    await lock.extend(30)
    await asyncio.sleep(1.5)
    assert not fired.is_set()
    assert lock.held
    await lock.release()


async def test_clear_keeps_fencing_tokens_growing(cache: CacheClient) -> None:
    """clear() does not reset fencing counters: the next token is still larger."""
    async with cache.lock("job", ttl=5) as lock:
        before = lock.fencing_token
    assert await cache.clear() == 0
    async with cache.lock("job", ttl=5) as lock:
        assert lock.fencing_token > before


async def test_fencing_survives_data_loss(cache: CacheClient, fake_redis: FakeAsyncRedis) -> None:
    """After Redis lost every key (restart without persistence) tokens still grow."""
    async with cache.lock("job", ttl=5) as lock:
        before = lock.fencing_token
    await fake_redis.flushall()
    async with cache.lock("job", ttl=5) as lock:
        assert lock.fencing_token > before


async def test_lock_named_like_a_fence_key(cache: CacheClient) -> None:
    """A lock named like another lock's counter neither blocks it nor strands a key."""
    other = cache.lock("x:fence", ttl=30)
    await other.acquire()
    async with cache.lock("x", ttl=30) as lock:
        assert lock.fencing_token > 0
    assert await cache.exists("x") == 0
    await other.release()
    assert [k async for k in cache.scan_keys()] == []


async def test_reserved_marker_rejected_in_names(cache: CacheClient) -> None:
    """Lock names containing the fence marker are refused before any I/O."""
    with pytest.raises(ValueError, match="reserved marker"):
        cache.lock(f"a:{FENCE_MARK}b")


async def test_wrong_type_fence_key_writes_nothing(cache: CacheClient, fake_redis: FakeAsyncRedis) -> None:
    """A fence key of the wrong type fails the acquire before the lock key is written."""
    await fake_redis.hset(FENCE + "h", "f", "v")
    with pytest.raises(CacheError, match="not a counter"):
        await cache.lock("h", ttl=30).acquire()
    assert await fake_redis.exists("app:h") == 0
    await fake_redis.set(FENCE + "s", "abc")
    with pytest.raises(CacheError, match="does not hold a counter"):
        await cache.lock("s", ttl=30).acquire()
    assert await fake_redis.exists("app:s") == 0


async def test_scan_and_clear_binary_keys(cache: CacheClient, fake_redis: FakeAsyncRedis) -> None:
    """A non-UTF-8 key raises CacheError from scan_keys and is still deleted by clear()."""
    await fake_redis.set(b"app:\xff", 1)
    await fake_redis.set("app:ok", 1)
    with pytest.raises(CacheError, match="not valid UTF-8"):
        _ = [k async for k in cache.scan_keys()]
    assert await cache.clear() == 2
    assert await fake_redis.keys("app:*") == []


async def test_failed_background_release_is_retrieved(
    cache: CacheClient, fake_server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A background release that fails (Redis down) is logged at DEBUG, never left unretrieved."""
    lock = cache.lock("bg", ttl=30)
    await lock.acquire()
    fake_server.connected = False
    task = asyncio.create_task(lock.release())
    await asyncio.sleep(0)
    task.cancel()  # nobody awaits the shielded release any more
    with caplog.at_level("DEBUG", logger="internal_cache"):
        await cache.link.drain(10)
    assert cache.link.pending == set()
    assert any("background task" in r.getMessage() for r in caplog.records)
    fake_server.connected = True
