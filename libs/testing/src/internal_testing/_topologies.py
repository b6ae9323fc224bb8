"""Finding the multi-process deployments: Redis Cluster, Redis Sentinel, a PostgreSQL streaming replica.

Each one comes from its environment variable when set, else is started from the binaries on PATH, else the
requesting test is skipped naming the variable (failed instead with ``COMMONS_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import ExitStack
from typing import TypeVar

from internal_testing._discovery import ServiceUnavailable, not_available
from internal_testing._pg_replica import PostgresReplica
from internal_testing._redis_cluster import RedisCluster, parse_node_urls
from internal_testing._redis_sentinel import RedisSentinel, parse_sentinel_url

__all__ = [
    "POSTGRES_PRIMARY_ENV_VAR",
    "PostgresReplica",
    "RedisCluster",
    "RedisSentinel",
    "POSTGRES_REPLICA_ENV_VAR",
    "REDIS_CLUSTER_ENV_VAR",
    "REDIS_SENTINEL_ENV_VAR",
    "find_postgres_replica",
    "find_redis_cluster",
    "find_redis_sentinel",
]

REDIS_CLUSTER_ENV_VAR = "COMMONS_REDIS_CLUSTER_URL"
REDIS_SENTINEL_ENV_VAR = "COMMONS_REDIS_SENTINEL_URL"
POSTGRES_REPLICA_ENV_VAR = "COMMONS_POSTGRES_REPLICA_URL"
POSTGRES_PRIMARY_ENV_VAR = "COMMONS_POSTGRES_PRIMARY_URL"

T = TypeVar("T", RedisCluster, RedisSentinel, PostgresReplica)


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _start(start: Callable[[], T], stack: ExitStack, what: str, env_var: str) -> T:
    try:
        started = start()
    except ServiceUnavailable as exc:
        not_available(f"{what} is not available; set {env_var} ({exc})")
    stack.callback(started.close)
    return started


def find_redis_cluster(stack: ExitStack) -> RedisCluster:
    """COMMONS_REDIS_CLUSTER_URL (``redis://host:port,...``), else six local nodes, else skip/fail.

    Raises:
        ValueError: When COMMONS_REDIS_CLUSTER_URL is malformed.
    """
    value = _env(REDIS_CLUSTER_ENV_VAR)
    if value:
        return RedisCluster(parse_node_urls(value))
    return _start(RedisCluster.start_local, stack, "A Redis Cluster", REDIS_CLUSTER_ENV_VAR)


def find_redis_sentinel(stack: ExitStack) -> RedisSentinel:
    """COMMONS_REDIS_SENTINEL_URL (``redis+sentinel://host:port,.../name``), else local processes, else skip.

    Raises:
        ValueError: When COMMONS_REDIS_SENTINEL_URL is malformed.
    """
    value = _env(REDIS_SENTINEL_ENV_VAR)
    if value:
        return RedisSentinel(*parse_sentinel_url(value))
    return _start(RedisSentinel.start_local, stack, "Redis Sentinel", REDIS_SENTINEL_ENV_VAR)


def find_postgres_replica(stack: ExitStack) -> PostgresReplica:
    """COMMONS_POSTGRES_REPLICA_URL with COMMONS_POSTGRES_PRIMARY_URL, else a local pair, else skip/fail.

    Raises:
        ValueError: When only one of the two variables is set, or one is not a ``postgresql://`` URL.
    """
    replica, primary = _env(POSTGRES_REPLICA_ENV_VAR), _env(POSTGRES_PRIMARY_ENV_VAR)
    if replica or primary:
        if not (replica and primary):
            raise ValueError(
                f"set both {POSTGRES_REPLICA_ENV_VAR} (the replica) and {POSTGRES_PRIMARY_ENV_VAR} "
                "(the primary it streams from), or neither"
            )
        for name, url in ((POSTGRES_REPLICA_ENV_VAR, replica), (POSTGRES_PRIMARY_ENV_VAR, primary)):
            if not url.startswith(("postgresql://", "postgres://")):
                raise ValueError(
                    f"{name} must be a postgresql:// URL, got a value with scheme {url.split(':')[0]!r}"
                )
        return PostgresReplica(primary, replica)
    return _start(
        PostgresReplica.start_local, stack, "A PostgreSQL streaming replica", POSTGRES_REPLICA_ENV_VAR
    )
