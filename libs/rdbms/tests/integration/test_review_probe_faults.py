"""Adversarial review: readiness and replica probes when the network to a server hangs or drops.

A small TCP proxy on loopback (its own thread and event loop) sits between the library and a real
server: ``freeze`` makes it stop forwarding (a server that hangs: no error, no answer), ``drop``
closes every connection (a server restart). Probes must stay bounded by ``health_check_timeout``,
leak no connection, and recover once the server answers again.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from internal_base.health import HealthRegistry, HealthStatus
from internal_rdbms import Database, RdbmsSettings, RdbmsUnavailableError
from internal_testing._topologies import PostgresReplica

pytestmark = pytest.mark.asyncio(loop_scope="session")

_DEADLINE = 30.0


class TcpProxy:
    """Forward loopback TCP connections to ``host:port``; freeze or drop them on demand."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 0)
        self._url = url
        self._loop = asyncio.new_event_loop()
        self._frozen = threading.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
            self.port = server.sockets[0].getsockname()[1]
            started.set()
            self._loop.run_forever()
            server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.run_until_complete(asyncio.sleep(0.05))
            self._loop.run_until_complete(server.wait_closed())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert started.wait(10)

    @property
    def url(self) -> str:
        """The server's URL with the proxy's address."""
        host, port = self._upstream
        return self._url.replace(f"{host}:{port}", f"127.0.0.1:{self.port}", 1)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        while self._frozen.is_set():  # a hanging server: the connection is accepted, never answered
            await asyncio.sleep(0.02)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                while self._frozen.is_set():
                    await asyncio.sleep(0.02)
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()

    def freeze(self) -> None:
        """Stop forwarding (connections stay open, nothing answers)."""
        self._frozen.set()

    def thaw(self) -> None:
        """Forward again."""
        self._frozen.clear()

    def drop(self) -> None:
        """Close every connection at once, as a restarting server does."""

        def abort() -> None:
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()

        self._loop.call_soon_threadsafe(abort)

    def close(self) -> None:
        """Stop the proxy."""
        self.drop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture(params=["postgresql", "mysql"])
def proxied(request: pytest.FixtureRequest) -> Iterator[TcpProxy]:
    """A proxy in front of this process's PostgreSQL or MariaDB database."""
    url: str = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")
    proxy = TcpProxy(url)
    yield proxy
    proxy.close()


async def _until_healthy(registry: HealthRegistry, name: str) -> None:
    deadline = time.monotonic() + _DEADLINE
    while (await registry.readiness()).check(name).status != HealthStatus.HEALTHY:
        assert time.monotonic() < deadline, f"{name} did not recover within {_DEADLINE} s"
        await asyncio.sleep(0.1)


async def test_readiness_recovers_after_its_connection_is_dropped(proxied: TcpProxy) -> None:
    """The probe's kept connection dies (server restart): the next readiness probe reconnects."""
    registry = HealthRegistry(cache_ttl=0)
    settings = RdbmsSettings(url=proxied.url, health_check_timeout=5, health_check_name="dropped")
    async with Database(settings, health_registry=registry):
        assert (await registry.readiness()).check("dropped").status == HealthStatus.HEALTHY
        proxied.drop()
        await _until_healthy(registry, "dropped")


async def test_readiness_on_a_hanging_server_is_bounded_and_recovers(proxied: TcpProxy) -> None:
    """A server that stops answering: each probe fails within health_check_timeout (plus slack), no
    connection leaks, and readiness is healthy again as soon as the server answers."""
    registry = HealthRegistry(cache_ttl=0)
    settings = RdbmsSettings(url=proxied.url, health_check_timeout=1, health_check_name="hung")
    async with Database(settings, health_registry=registry) as db:
        assert (await registry.readiness()).check("hung").status == HealthStatus.HEALTHY
        proxied.freeze()
        try:
            for _ in range(3):
                started = time.monotonic()
                report = await registry.readiness()
                assert time.monotonic() - started < 10
                assert report.check("hung").status == HealthStatus.UNHEALTHY
            with pytest.raises(RdbmsUnavailableError):  # ping bounded by the probe's own timeouts too
                await asyncio.wait_for(db.ping(), timeout=30)
        finally:
            proxied.thaw()
        await _until_healthy(registry, "hung")
        await db.ping()


@pytest.fixture()
def replica_proxy(postgres_replica: PostgresReplica) -> Iterator[TcpProxy]:
    """A proxy in front of the streaming replica."""
    proxy = TcpProxy(postgres_replica.replica_url)
    yield proxy
    proxy.close()


async def _in_recovery(session: AsyncSession) -> bool:
    return bool((await session.execute(text("SELECT pg_is_in_recovery()"))).scalar())


async def _until_on_replica(db: Database) -> None:
    deadline = time.monotonic() + _DEADLINE
    while True:
        async with db.transaction(read_only=True) as session:
            if await _in_recovery(session):
                return
        assert time.monotonic() < deadline, "read-only work never went back to the replica"
        await asyncio.sleep(0.1)


async def test_a_hanging_replica_sends_reads_to_the_primary_and_comes_back(
    postgres_replica: PostgresReplica, replica_proxy: TcpProxy
) -> None:
    """The replica stops answering: read-only work runs on the primary within a bounded time; once it
    answers again, read-only work returns to it."""
    settings = RdbmsSettings(
        url=postgres_replica.primary_url,
        health_check=False,
        health_check_timeout=1,
        replica_check_interval=0.2,
        replica_max_lag=60,
    )
    async with Database(settings, replica_urls=[replica_proxy.url]) as db:
        await _until_on_replica(db)
        replica_proxy.freeze()
        try:
            for _ in range(3):
                started = time.monotonic()
                async with db.transaction(read_only=True) as session:
                    assert not await _in_recovery(session)
                assert time.monotonic() - started < 10
            (status,) = await db.replica_status()
            assert status["state"] == "down"
            assert "1 s" in str(status["error"])
        finally:
            replica_proxy.thaw()
        await _until_on_replica(db)
        (status,) = await db.replica_status()
        assert status["state"] == "ok"


async def test_replica_dropped_mid_session_is_retried_on_the_primary(
    postgres_replica: PostgresReplica, replica_proxy: TcpProxy
) -> None:
    """The replica's connection drops inside read-only work: Database.run retries it on the primary."""
    settings = RdbmsSettings(
        url=postgres_replica.primary_url,
        health_check=False,
        replica_check_interval=30,
        replica_max_lag=60,
    )
    async with Database(settings, replica_urls=[replica_proxy.url]) as db:
        await _until_on_replica(db)
        servers: list[bool] = []

        async def work(session: AsyncSession) -> int:
            on_replica = await _in_recovery(session)
            servers.append(on_replica)
            if on_replica:
                replica_proxy.drop()
                await asyncio.sleep(0.2)
            return int((await session.execute(text("SELECT 1"))).scalar_one())

        assert await db.run(work, read_only=True) == 1
        assert servers == [True, False]
        (status,) = await db.replica_status()  # probed again: the replica itself is fine
        assert status["state"] == "ok"
