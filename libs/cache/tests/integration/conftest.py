"""Fixtures for tests against a real Redis server."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import SecretStr

from internal_cache import CacheClient, CacheError, CacheSettings
from internal_testing import RedisCluster, RedisSentinel


@pytest.fixture(name="make_client")
async def make_client_fixture(
    redis_url: str, redis_key_prefix: str
) -> AsyncIterator[Callable[..., CacheClient]]:
    """Factory of clients on the shared server, all sharing one fresh namespace; cleaned up after."""
    namespace = f"{redis_key_prefix}{secrets.token_hex(3)}:"
    made: list[CacheClient] = []

    def make(url: str | None = None, **settings: object) -> CacheClient:
        options: dict[str, object] = {"key_prefix": namespace, **settings}
        options.setdefault("health_check", False)
        client = CacheClient(CacheSettings(url=SecretStr(url or redis_url), **options))  # type: ignore[arg-type]
        made.append(client)
        return client

    yield make
    if made:
        cleaner = CacheClient(
            CacheSettings(url=SecretStr(redis_url), key_prefix=namespace, health_check=False)
        )
        await cleaner.clear()
        await cleaner.aclose()
    for client in made:
        await client.aclose()


@pytest.fixture()
def client(make_client: Callable[..., CacheClient]) -> CacheClient:
    """A client on the shared server under a namespace unique to this test."""
    return make_client()


def cluster_url(cluster: RedisCluster) -> str:
    """The redis+cluster:// URL of a test cluster (every node a startup node)."""
    return "redis+cluster://" + ",".join(f"{host}:{port}" for host, port in cluster.nodes)


@pytest.fixture(name="make_cluster_client")
async def make_cluster_client_fixture(
    redis_cluster: RedisCluster, redis_key_prefix: str
) -> AsyncIterator[Callable[..., CacheClient]]:
    """Factory of clients of the session's Redis Cluster under one fresh namespace; cleaned up after."""
    namespace = f"{redis_key_prefix}{secrets.token_hex(3)}:"
    made: list[CacheClient] = []
    url = cluster_url(redis_cluster)

    def make(**settings: object) -> CacheClient:
        options: dict[str, object] = {"key_prefix": namespace, "health_check": False, **settings}
        client = CacheClient(CacheSettings(url=SecretStr(url), **options))  # type: ignore[arg-type]
        made.append(client)
        return client

    yield make
    if made:
        cleaner = CacheClient(CacheSettings(url=SecretStr(url), key_prefix=namespace, health_check=False))
        with contextlib.suppress(CacheError):
            await cleaner.clear()
        await cleaner.aclose()
    for client in made:
        await client.aclose()


@pytest.fixture(name="make_sentinel_client")
async def make_sentinel_client_fixture(
    redis_sentinel: RedisSentinel, redis_key_prefix: str
) -> AsyncIterator[Callable[..., CacheClient]]:
    """Factory of clients of the session's Sentinel-managed master under one fresh namespace."""
    namespace = f"{redis_key_prefix}{secrets.token_hex(3)}:"
    made: list[CacheClient] = []

    def make(**settings: object) -> CacheClient:
        options: dict[str, object] = {"key_prefix": namespace, "health_check": False, **settings}
        client = CacheClient(CacheSettings(url=SecretStr(redis_sentinel.url), **options))  # type: ignore[arg-type]
        made.append(client)
        return client

    yield make
    if made:
        cleaner = CacheClient(
            CacheSettings(url=SecretStr(redis_sentinel.url), key_prefix=namespace, health_check=False)
        )
        with contextlib.suppress(CacheError):
            await cleaner.clear()
        await cleaner.aclose()
    for client in made:
        await client.aclose()


class WriteStream:
    """Tasks writing unique keys (``w:<n>`` = n) in a loop, remembering every acknowledged write.

    Used by the failover tests: start it, break the server, let it run on, stop it, then
    :meth:`lost` reads every acknowledged key back and names those missing or wrong.
    """

    def __init__(self, cache: CacheClient, *, writers: int = 4, pause: float = 0.002) -> None:
        self.cache = cache
        self.acked: dict[str, float] = {}  # key -> time.monotonic() of its acknowledgement
        self.errors: list[BaseException] = []
        self.slowest = 0.0
        self._writers = writers
        self._pause = pause
        self._next = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> WriteStream:
        self._tasks = [asyncio.create_task(self._write()) for _ in range(self._writers)]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _write(self) -> None:
        while not self._stop.is_set():
            n, self._next = self._next, self._next + 1
            key = f"w:{n}"
            started = time.monotonic()
            try:
                await self.cache.set(key, n)
            except CacheError as exc:
                self.errors.append(exc)
            else:
                self.acked[key] = time.monotonic()
            self.slowest = max(self.slowest, time.monotonic() - started)
            await asyncio.sleep(self._pause)

    async def wait_acked(self, count: int, timeout: float = 60.0) -> None:
        """Wait until at least ``count`` writes were acknowledged (fails after ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        while len(self.acked) < count:
            assert time.monotonic() < deadline, f"only {len(self.acked)} of {count} writes acknowledged"
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Stop the writers and wait for them."""
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def lost(self, since: float | None = None) -> list[str]:
        """Acknowledged keys (acknowledged after ``since``, when given) that are missing or wrong now."""
        keys = sorted(k for k, at in self.acked.items() if since is None or at > since)
        lost: list[str] = []
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            values = await self.cache.mget(chunk)
            lost += [k for k, v in zip(chunk, values, strict=True) if v != k[2:].encode()]
        return lost


@pytest.fixture()
def report(capsys: pytest.CaptureFixture[str]) -> Callable[..., None]:
    """Print a measured outcome to the terminal, even under -q.

    Not ``record_property``: CI writes xunit2 JUnit reports, where it warns (an error here).
    """

    def emit(name: str, **values: object) -> None:
        with capsys.disabled():
            print(f"\n[{name}] " + ", ".join(f"{k}={v}" for k, v in values.items()))

    return emit


@pytest.fixture(name="write_stream")
def write_stream_fixture() -> type[WriteStream]:
    """The :class:`WriteStream` class (``async with write_stream(cache) as stream: ...``)."""
    return WriteStream
