"""Redis Cluster: six ``redis-server --cluster-enabled yes`` processes on loopback, or one given by URL."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from internal_testing._discovery import ServiceUnavailable
from internal_testing._process import free_port, wait_until
from internal_testing._redis import LocalRedisServer
from internal_testing._resp import info_field, query, query_or_none

__all__ = ["RedisCluster", "parse_node_urls"]


def parse_node_urls(value: str) -> tuple[tuple[str, int], ...]:
    """Parse ``redis://host:port[,redis://host:port...]`` (COMMONS_REDIS_CLUSTER_URL) into addresses.

    Raises:
        ValueError: Naming the entry that is not a ``redis://host:port`` URL.
    """
    nodes: list[tuple[str, int]] = []
    for entry in (part.strip() for part in value.split(",")):
        parts = urlsplit(entry)
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme != "redis" or not parts.hostname or port is None:
            raise ValueError(f"a Redis Cluster node must be a redis://host:port URL, got {entry!r}")
        nodes.append((parts.hostname, port))
    return tuple(nodes)


class RedisCluster:
    """A Redis Cluster for tests: started here (``RedisCluster.start_local()``) or given by its node URLs.

    Only a cluster started here can lose and regain nodes (:meth:`kill`, :meth:`restart`).
    """

    def __init__(
        self,
        nodes: tuple[tuple[str, int], ...],
        *,
        servers: tuple[LocalRedisServer, ...] = (),
        directory: Path | None = None,
    ) -> None:
        """Wrap a running cluster; use :meth:`start_local` to start one.

        Args:
            nodes: ``(host, port)`` of the nodes (at least one).
            servers: The node processes, when they were started here.
            directory: The temporary directory of those processes (removed by :meth:`close`).
        """
        if not nodes:
            raise ValueError("a Redis Cluster needs at least one node address")
        self._nodes = nodes
        self._servers = {server.port: server for server in servers}
        self._directory = directory

    @classmethod
    def start_local(
        cls,
        *,
        primaries: int = 3,
        replicas_per_primary: int = 1,
        node_timeout_ms: int = 3000,
        startup_timeout: float = 90.0,
    ) -> RedisCluster:
        """Start ``primaries * (1 + replicas_per_primary)`` nodes on free loopback ports and form a cluster.

        Returns once every node reports ``cluster_state:ok`` and every replica is in sync.

        Args:
            primaries: Primaries (each owns a share of the 16384 slots); at least 3.
            replicas_per_primary: Replicas of each primary (failover needs at least 1).
            node_timeout_ms: ``cluster-node-timeout``: how long a silent primary takes to be failed over.
            startup_timeout: Seconds allowed for the whole start.

        Raises:
            ServiceUnavailable: Without redis-server/redis-cli on PATH, or when the cluster does not form.
        """
        redis_cli = shutil.which("redis-cli")
        if shutil.which("redis-server") is None or redis_cli is None:
            raise ServiceUnavailable("a Redis Cluster needs redis-server and redis-cli on PATH")
        directory = Path(tempfile.mkdtemp(prefix="redis-cluster-"))
        servers: list[LocalRedisServer] = []
        cluster = cls((("127.0.0.1", 0),), directory=directory)
        try:
            for index in range(primaries * (1 + replicas_per_primary)):
                node_dir = directory / f"node-{index}"
                node_dir.mkdir()
                server = LocalRedisServer(
                    directory=node_dir,
                    startup_timeout=startup_timeout,
                    extra_args=(
                        "--cluster-enabled", "yes",
                        "--cluster-config-file", "nodes.conf",
                        # The bus port defaults to port + 10000, which may not exist for a high free port.
                        "--cluster-port", str(free_port()),
                        "--cluster-node-timeout", str(node_timeout_ms),
                        # Any replica may take over, however long it was cut off (tests kill nodes at will).
                        "--cluster-replica-validity-factor", "0",
                    ),
                )  # fmt: skip
                servers.append(server)
                cluster._servers[server.port] = server
                server.start()
            cluster._nodes = tuple(("127.0.0.1", server.port) for server in servers)
            create = subprocess.run(
                [redis_cli, "--cluster", "create", *(f"{h}:{p}" for h, p in cluster._nodes),  # noqa: S603
                 "--cluster-replicas", str(replicas_per_primary), "--cluster-yes"],
                capture_output=True,
                text=True,
                timeout=startup_timeout,
                check=False,
            )  # fmt: skip
            if create.returncode != 0:
                raise ServiceUnavailable(
                    f"redis-cli --cluster create failed: {create.stdout[-800:]}{create.stderr}"
                )
            cluster.wait_healthy(timeout=startup_timeout)
        except BaseException:
            cluster.close()
            raise
        return cluster

    @property
    def managed(self) -> bool:
        """Whether the node processes were started here (and can be killed and restarted)."""
        return bool(self._servers)

    @property
    def nodes(self) -> tuple[tuple[str, int], ...]:
        """``(host, port)`` of every node, primaries and replicas."""
        return self._nodes

    @property
    def urls(self) -> tuple[str, ...]:
        """``redis://host:port`` of every node (give any of them to a cluster client as a startup node)."""
        return tuple(f"redis://{host}:{port}" for host, port in self._nodes)

    @property
    def url(self) -> str:
        """The URL of the first node: enough for ``redis.asyncio.RedisCluster.from_url``."""
        return self.urls[0]

    def _live_node(self) -> tuple[str, int]:
        for host, port in self._nodes:
            if query_or_none(port, "PING", host=host) == "PONG":
                return host, port
        raise ServiceUnavailable(f"no node of the Redis Cluster answers ({', '.join(self.urls)})")

    def topology(self) -> dict[tuple[str, int], tuple[str, tuple[tuple[int, int], ...]]]:
        """What ``CLUSTER NODES`` says now: ``(host, port) -> (role, slot ranges)``, role master or slave.

        Nodes marked failed are left out.
        """
        host, port = self._live_node()
        reply = query(port, "CLUSTER", "NODES", host=host)
        assert isinstance(reply, str)
        topology: dict[tuple[str, int], tuple[str, tuple[tuple[int, int], ...]]] = {}
        for line in reply.splitlines():
            fields = line.split()
            if len(fields) < 8 or "fail" in fields[2].split(","):
                continue
            address = fields[1].split("@", 1)[0]
            node_host, _, node_port = address.rpartition(":")
            role = "master" if "master" in fields[2].split(",") else "slave"
            ranges = []
            for slots in fields[8:]:
                if slots.startswith("["):
                    continue  # a slot being migrated
                first, _, last = slots.partition("-")
                ranges.append((int(first), int(last or first)))
            topology[(node_host or host, int(node_port))] = (role, tuple(ranges))
        return topology

    def primaries(self) -> tuple[tuple[str, int], ...]:
        """``(host, port)`` of the primaries that own slots now."""
        return tuple(
            sorted(a for a, (role, ranges) in self.topology().items() if role == "master" and ranges)
        )

    def keyslot(self, key: str) -> int:
        """The hash slot of ``key`` (honours ``{hash tags}``), as the cluster computes it."""
        host, port = self._live_node()
        slot = query(port, "CLUSTER", "KEYSLOT", key, host=host)
        assert isinstance(slot, int)
        return slot

    def primary_for(self, key: str) -> tuple[str, int]:
        """``(host, port)`` of the primary that serves ``key`` now."""
        return self.primary_for_slot(self.keyslot(key))

    def primary_for_slot(self, slot: int) -> tuple[str, int]:
        """``(host, port)`` of the primary that serves hash slot ``slot`` now (failed nodes do not count).

        Raises:
            ServiceUnavailable: When no live primary serves it.
        """
        for address, (role, ranges) in self.topology().items():
            if role == "master" and any(first <= slot <= last for first, last in ranges):
                return address
        raise ServiceUnavailable(f"no primary of the Redis Cluster serves slot {slot} now")

    def healthy(self) -> bool:
        """Whether every reachable node says ``cluster_state:ok`` and every replica's link is up."""
        for host, port in self._nodes:
            if info_field(query_or_none(port, "CLUSTER", "INFO", host=host), "cluster_state") != "ok":
                return False
            replication = query_or_none(port, "INFO", "replication", host=host)
            if (
                info_field(replication, "role") == "slave"
                and info_field(replication, "master_link_status") != "up"
            ):
                return False
        return True

    def wait_healthy(self, *, timeout: float = 60.0) -> None:
        """Wait until :meth:`healthy` (all nodes up, slots covered, replicas in sync); at most ``timeout`` s.

        Raises:
            ServiceUnavailable: When the time runs out.
        """
        wait_until(self.healthy, what="the Redis Cluster", timeout=timeout, interval=0.1)

    def wait_failover(
        self, slot: int, *, old_primary: tuple[str, int], timeout: float = 60.0
    ) -> tuple[str, int]:
        """After ``old_primary`` was killed: wait until another node serves ``slot``, ``cluster_state:ok``.

        Returns:
            ``(host, port)`` of the new primary.

        Raises:
            ServiceUnavailable: When the time runs out.
        """
        new: list[tuple[str, int]] = []

        def failed_over() -> bool:
            try:
                address = self.primary_for_slot(slot)
            except ServiceUnavailable:
                return False
            state = info_field(query_or_none(address[1], "CLUSTER", "INFO", host=address[0]), "cluster_state")
            new[:] = [address]
            return address != old_primary and state == "ok"

        where = f"{old_primary[0]}:{old_primary[1]}"
        wait_until(
            failed_over, what=f"a failover of slot {slot} away from {where}", timeout=timeout, interval=0.1
        )
        return new[0]

    def _server(self, port: int) -> LocalRedisServer:
        if not self._servers:
            raise RuntimeError(
                "this Redis Cluster was given by COMMONS_REDIS_CLUSTER_URL; its nodes cannot be controlled"
            )
        try:
            return self._servers[port]
        except KeyError:
            raise ValueError(f"no node of this cluster listens on port {port}") from None

    def kill(self, port: int) -> None:
        """Kill the node on ``port`` with SIGKILL (a crash); its replica takes over after the node timeout."""
        self._server(port).kill()

    def restart(self, port: int) -> None:
        """Start the node on ``port`` again; it rejoins with its old identity (a replica, if failed over).

        Raises:
            ServiceUnavailable: When it cannot listen on ``port`` again (another process took it).
        """
        server = self._server(port)
        server.start()
        if server.port != port:  # LocalRedisServer moves to a free port when its own was taken
            server.close()
            raise ServiceUnavailable(f"the cluster node could not listen on port {port} again")

    def close(self) -> None:
        """Stop every node started here and remove their directory; a no-op for a cluster given by URL."""
        for server in self._servers.values():
            server.close()
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def __enter__(self) -> RedisCluster:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RedisCluster(nodes={len(self._nodes)}, managed={self.managed})"
