"""Redis Sentinel: a master, a replica and three sentinels on loopback, or a deployment given by URL."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from internal_testing._discovery import ServiceUnavailable
from internal_testing._process import free_port, terminate, wait_until
from internal_testing._redis import LocalRedisServer
from internal_testing._resp import info_field, query_or_none

__all__ = ["RedisSentinel", "parse_sentinel_url"]

MASTER_NAME = "mymaster"


def parse_sentinel_url(value: str) -> tuple[tuple[tuple[str, int], ...], str]:
    """Parse ``redis+sentinel://host:port[,host:port...]/<master name>`` (COMMONS_REDIS_SENTINEL_URL).

    Returns:
        The sentinel addresses and the master name.

    Raises:
        ValueError: Naming what is missing or malformed.
    """
    parts = urlsplit(value.strip())
    name = parts.path.strip("/")
    if parts.scheme != "redis+sentinel" or not parts.netloc or not name:
        raise ValueError(
            f"a Sentinel URL must look like redis+sentinel://host:port[,host:port...]/<master>, got {value!r}"
        )
    sentinels: list[tuple[str, int]] = []
    for entry in parts.netloc.split(","):
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"a sentinel address must be host:port, got {entry!r} in {value!r}")
        sentinels.append((host, int(port)))
    return tuple(sentinels), name


class RedisSentinel:
    """A Sentinel-monitored master for tests: started here (:meth:`start_local`) or given by URL.

    Only a deployment started here can lose its master (:meth:`kill_master`).
    """

    def __init__(
        self,
        sentinels: tuple[tuple[str, int], ...],
        master_name: str = MASTER_NAME,
        *,
        directory: Path | None = None,
    ) -> None:
        """Wrap running sentinels; use :meth:`start_local` to start a deployment.

        Args:
            sentinels: ``(host, port)`` of the sentinels (at least one).
            master_name: The name the sentinels monitor the master under.
            directory: The temporary directory of processes started here (removed by :meth:`close`).
        """
        if not sentinels:
            raise ValueError("Sentinel needs at least one sentinel address")
        self._sentinels = sentinels
        self._master_name = master_name
        self._directory = directory
        self._servers: list[LocalRedisServer] = []
        self._sentinel_processes: list[subprocess.Popen[bytes]] = []
        self._initial_master: tuple[str, int] | None = None

    @classmethod
    def start_local(
        cls,
        *,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 5000,
        startup_timeout: float = 60.0,
    ) -> RedisSentinel:
        """Start a master, a replica of it and three sentinels (quorum 2) on free loopback ports.

        Returns once the replica is in sync and every sentinel knows the replica and the other two sentinels.

        Raises:
            ServiceUnavailable: Without ``redis-server`` on PATH, or when the deployment does not come up.
        """
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceUnavailable("Redis Sentinel needs redis-server on PATH")
        directory = Path(tempfile.mkdtemp(prefix="redis-sentinel-"))
        deployment = cls((("127.0.0.1", 0),), directory=directory)
        try:
            master = deployment._add_server(directory / "master", startup_timeout)
            deployment._add_server(
                directory / "replica", startup_timeout, "--replicaof", "127.0.0.1", str(master.port)
            )
            deployment._initial_master = ("127.0.0.1", master.port)
            deployment._sentinels = tuple(
                ("127.0.0.1", deployment._start_sentinel(binary, directory / f"sentinel-{index}", master.port,
                                                         down_after_ms, failover_timeout_ms, startup_timeout))
                for index in range(3)
            )  # fmt: skip
            wait_until(deployment._settled, what="Redis Sentinel", timeout=startup_timeout, interval=0.1)
        except BaseException:
            deployment.close()
            raise
        return deployment

    def _add_server(self, directory: Path, startup_timeout: float, *args: str) -> LocalRedisServer:
        directory.mkdir()
        server = LocalRedisServer(directory=directory, startup_timeout=startup_timeout, extra_args=args)
        self._servers.append(server)
        return server.start()

    def _start_sentinel(
        self, binary: str, directory: Path, master_port: int, down_after: int, failover: int, timeout: float
    ) -> int:
        directory.mkdir()
        port = free_port()
        config = directory / "sentinel.conf"
        # Sentinel rewrites its config file as it learns the topology, so each one gets its own.
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {directory}\nlogfile {directory / 'sentinel.log'}\n"
            f"sentinel monitor {self._master_name} 127.0.0.1 {master_port} 2\n"
            f"sentinel down-after-milliseconds {self._master_name} {down_after}\n"
            f"sentinel failover-timeout {self._master_name} {failover}\n"
            f"sentinel parallel-syncs {self._master_name} 1\n"
        )
        process = subprocess.Popen(
            [binary, str(config), "--sentinel"],  # noqa: S603 - a binary found on PATH, fixed arguments
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        self._sentinel_processes.append(process)
        wait_until(
            lambda: query_or_none(port, "PING") == "PONG",
            what=f"redis sentinel on port {port}",
            timeout=timeout,
            process=process,
            log=directory / "sentinel.log",
        )
        return port

    def _settled(self) -> bool:
        replica = self._servers[1]
        if info_field(query_or_none(replica.port, "INFO", "replication"), "master_link_status") != "up":
            return False
        for host, port in self._sentinels:
            reply = query_or_none(port, "SENTINEL", "MASTER", self._master_name, host=host)
            if not isinstance(reply, list):
                return False
            fields = dict(zip(reply[::2], reply[1::2], strict=False))
            if fields.get("num-slaves") != "1" or fields.get("num-other-sentinels") != "2":
                return False
        return True

    @property
    def managed(self) -> bool:
        """Whether the processes were started here (and the master can be killed)."""
        return bool(self._servers)

    @property
    def sentinels(self) -> tuple[tuple[str, int], ...]:
        """``(host, port)`` of every sentinel (what ``redis.asyncio.sentinel.Sentinel`` takes)."""
        return self._sentinels

    @property
    def master_name(self) -> str:
        """The name the sentinels monitor the master under."""
        return self._master_name

    @property
    def url(self) -> str:
        """``redis+sentinel://host:port,.../<master name>`` (the COMMONS_REDIS_SENTINEL_URL form)."""
        return f"redis+sentinel://{','.join(f'{h}:{p}' for h, p in self._sentinels)}/{self._master_name}"

    def master_address(self) -> tuple[str, int] | None:
        """``(host, port)`` of the master as the first answering sentinel names it now, or None."""
        for host, port in self._sentinels:
            reply = query_or_none(port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self._master_name, host=host)
            if isinstance(reply, list) and len(reply) == 2 and isinstance(reply[1], str):
                return str(reply[0]), int(reply[1])
        return None

    def kill_master(self) -> tuple[str, int]:
        """Kill the current master with SIGKILL (a crash); the sentinels then promote the replica.

        Returns:
            The address of the killed master.

        Raises:
            RuntimeError: For a deployment given by URL, or when the sentinels name no master started here.
        """
        if not self.managed:
            raise RuntimeError(
                "this Sentinel deployment was given by COMMONS_REDIS_SENTINEL_URL; it cannot be controlled"
            )
        address = self.master_address()
        for server in self._servers:
            if address == ("127.0.0.1", server.port):
                server.kill()
                return address
        raise RuntimeError(f"the sentinels name {address} as master, which was not started here")

    def restart_killed(self) -> None:
        """Start every killed server again on its port; the sentinels make an old master a replica."""
        for server in self._servers:
            server.start()

    def wait_failover(self, old_master: tuple[str, int], *, timeout: float = 60.0) -> tuple[str, int]:
        """Wait until the sentinels name another master and it says ``role:master``; at most ``timeout`` s.

        Returns:
            The new master's address.

        Raises:
            ServiceUnavailable: When the time runs out.
        """
        found: list[tuple[str, int]] = []

        def promoted() -> bool:
            address = self.master_address()
            if address is None or address == old_master:
                return False
            role = info_field(query_or_none(address[1], "INFO", "replication", host=address[0]), "role")
            found[:] = [address]
            return role == "master"

        where = f"{old_master[0]}:{old_master[1]}"
        wait_until(promoted, what=f"a Sentinel failover away from {where}", timeout=timeout, interval=0.1)
        return found[0]

    def healthy(self) -> bool:
        """Whether the sentinels name a master that says so, and (when started here) every other server
        replicates from it with its link up and every sentinel sees it and the other two sentinels.

        After :meth:`kill_master` and :meth:`restart_killed` this turns True again once the old master
        has become an in-sync replica of the new one: the deployment can fail over again.
        """
        master = self.master_address()
        if master is None:
            return False
        if info_field(query_or_none(master[1], "INFO", "replication", host=master[0]), "role") != "master":
            return False
        if not self.managed:
            return True
        for server in self._servers:
            if ("127.0.0.1", server.port) == master:
                continue
            replication = query_or_none(server.port, "INFO", "replication")
            if (
                info_field(replication, "master_port") != str(master[1])
                or info_field(replication, "master_link_status") != "up"
            ):
                return False
        for host, port in self._sentinels:
            reply = query_or_none(port, "SENTINEL", "MASTER", self._master_name, host=host)
            if not isinstance(reply, list):
                return False
            fields = dict(zip(reply[::2], reply[1::2], strict=False))
            if fields.get("flags") != "master" or fields.get("num-other-sentinels") != "2":
                return False
            replicas = query_or_none(port, "SENTINEL", "REPLICAS", self._master_name, host=host)
            if not isinstance(replicas, list) or len(replicas) != len(self._servers) - 1:
                return False
            for replica in replicas:
                if not isinstance(replica, list):
                    return False
                flags = dict(zip(replica[::2], replica[1::2], strict=False)).get("flags", "")
                if flags != "slave":  # s_down, disconnected, ...: not yet seen as a healthy replica
                    return False
        return True

    def wait_healthy(self, *, timeout: float = 60.0) -> None:
        """Wait until :meth:`healthy`; at most ``timeout`` seconds.

        Raises:
            ServiceUnavailable: When the time runs out.
        """
        wait_until(self.healthy, what="a healthy Redis Sentinel deployment", timeout=timeout, interval=0.1)

    def close(self) -> None:
        """Stop every process started here and remove their directory (nothing to do for one given by URL)."""
        for process in self._sentinel_processes:
            terminate(process, sig=signal.SIGTERM)
        self._sentinel_processes.clear()
        for server in self._servers:
            server.close()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def __enter__(self) -> RedisSentinel:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RedisSentinel(sentinels={len(self._sentinels)}, master_name={self._master_name!r})"
