"""Which Redis deployment a URL names: one server, a Redis Cluster, or a Sentinel-managed master.

The URL scheme chooses the deployment (one setting, as for every library of the family):

* ``redis://``, ``rediss://``, ``unix://`` -- one server (redis-py's own URL parser applies);
* ``redis+cluster://[user:password@]host:port[,host:port...]`` (``rediss+cluster://`` for TLS) --
  a Redis Cluster: any reachable node is enough to discover the others;
* ``redis+sentinel://[user:password@]host:port[,host:port...]/<master name>[/<db>]`` -- the
  master that the sentinels at those addresses monitor under ``<master name>``; the password is
  the data nodes' (sentinels are contacted without one).

Parsing never echoes the password: errors name the part that is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import unquote, urlsplit

__all__ = ["CLUSTER_SCHEMES", "SCHEMES", "SENTINEL_SCHEMES", "Mode", "Topology", "mode_of", "parse_topology"]

Mode = Literal["standalone", "cluster", "sentinel"]

CLUSTER_SCHEMES: Final = frozenset({"redis+cluster", "rediss+cluster"})
SENTINEL_SCHEMES: Final = frozenset({"redis+sentinel"})
STANDALONE_SCHEMES: Final = frozenset({"redis", "rediss", "unix"})
SCHEMES: Final = STANDALONE_SCHEMES | CLUSTER_SCHEMES | SENTINEL_SCHEMES

_DEFAULT_PORT: Final = {"cluster": 6379, "sentinel": 26379}


@dataclass(frozen=True)
class Topology:
    """A parsed ``redis+cluster://`` or ``redis+sentinel://`` URL.

    Attributes:
        mode: ``"cluster"`` or ``"sentinel"``.
        nodes: ``(host, port)`` of the cluster's startup nodes or of the sentinels.
        username: ACL user of the data nodes, or ``None``.
        password: Password of the data nodes, or ``None`` (never shown in a repr).
        ssl: TLS to the data nodes (``rediss+cluster``).
        service: The master name (sentinel only).
        db: The database number (sentinel only; a cluster has only database 0).
    """

    mode: Mode
    nodes: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    ssl: bool = False
    service: str = ""
    db: int = 0

    def __repr__(self) -> str:
        hosts = ",".join(_display(h, p) for h, p in self.nodes)
        return f"Topology(mode={self.mode!r}, nodes={hosts!r}, service={self.service!r}, db={self.db})"


def mode_of(url: str) -> Mode:
    """The deployment a URL names, from its scheme alone."""
    scheme = url.partition("://")[0].lower()
    if scheme in CLUSTER_SCHEMES:
        return "cluster"
    if scheme in SENTINEL_SCHEMES:
        return "sentinel"
    return "standalone"


def _display(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _number(text: str) -> bool:
    """ASCII digits only (``str.isdigit`` also accepts e.g. Arabic-Indic digits and superscripts)."""
    return text.isascii() and text.isdigit()


def _host_port(entry: str, default_port: int, what: str) -> tuple[str, int]:
    if not entry:
        raise ValueError(f"{what} URL has an empty address (two commas, or a trailing comma)")
    if entry.startswith("["):  # [IPv6]:port
        host, _, rest = entry[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError(f"{what} URL has an address with an invalid port: {entry!r}")
        port_text = rest[1:]
    else:
        host, sep, port_text = entry.rpartition(":")
        if not sep:
            host, port_text = entry, ""
        if ":" in host:
            raise ValueError(
                f"{what} URL has an address with more than one ':' ({entry!r}): write an IPv6 "
                "address in brackets, e.g. [::1]:7000"
            )
    if not host:
        raise ValueError(f"{what} URL has an address without a host: {entry!r}")
    if not port_text:
        return host, default_port
    if not _number(port_text) or not 0 < int(port_text) < 65536:
        raise ValueError(f"{what} URL has an address with an invalid port: {entry!r}")
    return host, int(port_text)


def _nodes(hosts: str, default_port: int, what: str) -> tuple[tuple[str, int], ...]:
    nodes: list[tuple[str, int]] = []
    seen: set[tuple[str, int]] = set()
    for entry in hosts.split(","):
        host, port = _host_port(entry.strip(), default_port, what)
        if (host.lower(), port) in seen:
            raise ValueError(f"{what} URL names {_display(host.lower(), port)} twice")
        seen.add((host.lower(), port))
        nodes.append((host, port))
    return tuple(nodes)


def parse_topology(url: str) -> Topology:
    """Parse a ``redis+cluster://`` or ``redis+sentinel://`` URL.

    Raises:
        ValueError: naming what is wrong (never the password): no address, a bad port, an
            unbracketed IPv6 address, an address named twice, a database other than 0 for a
            cluster, no master name for sentinel, query options.
    """
    mode = mode_of(url)
    if mode == "standalone":
        raise ValueError("not a redis+cluster:// or redis+sentinel:// URL")
    parts = urlsplit(url)
    what = f"the {parts.scheme}://"
    if parts.query or parts.fragment:
        raise ValueError(f"{what} URL takes no query options or fragment (use CacheSettings fields)")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username = password = None
    if userinfo:
        user, sep, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if sep else None
    if not hosts:
        raise ValueError(f"{what} URL names no host:port")
    nodes = _nodes(hosts, _DEFAULT_PORT[mode], what)
    path = [segment for segment in parts.path.split("/") if segment]
    if mode == "cluster":
        if path not in ([], ["0"]):
            raise ValueError(f"{what} URL may only name database 0 (a Redis Cluster has no other)")
        return Topology("cluster", nodes, username, password, ssl=parts.scheme.lower() == "rediss+cluster")
    if not path or len(path) > 2:
        raise ValueError(f"{what} URL must end with /<master name> or /<master name>/<db>")
    db = 0
    if len(path) == 2:
        if not _number(path[1]):
            raise ValueError(f"{what} URL has a database that is not a number: {path[1]!r}")
        db = int(path[1])
    return Topology("sentinel", nodes, username, password, service=unquote(path[0]), db=db)
