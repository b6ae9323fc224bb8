"""The ``internal_testing`` pytest plugin: session fixtures for real services.

Enable it with ``pytest_plugins = ["internal_testing.plugin"]`` in a ``conftest.py`` (the installed wheel also
registers it through the ``pytest11`` entry point). Every fixture finds its service as described in
:func:`internal_testing._discovery.find_service`. The logic lives in the private modules; this one stays thin.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from typing import Any

import pytest

from internal_testing import _asgi, _aws, _mysql, _names, _postgres, _proxy, _redis, _topologies
from internal_testing._discovery import ServiceSpec, ServiceUnavailable, find_service, not_available

__all__ = [
    "aws_credentials",
    "aws_endpoint_url",
    "aws_proxy",
    "mysql_url",
    "postgres_replica",
    "postgres_url",
    "redis_cluster",
    "redis_key_prefix",
    "redis_sentinel",
    "redis_server_factory",
    "redis_url",
    "serve_asgi",
    "unique_name",
]

REDIS = ServiceSpec(
    "Redis",
    "COMMONS_REDIS_URL",
    docker=_redis.start_redis_container,
    local=_redis.start_local_redis,
    default_port=6379,
)
POSTGRES = ServiceSpec(
    "PostgreSQL",
    "COMMONS_POSTGRES_URL",
    docker=_postgres.start_postgres_container,
    local=_postgres.start_local_postgres,
    default_port=5432,
)
MYSQL = ServiceSpec(
    "MySQL/MariaDB",
    "COMMONS_MYSQL_URL",
    docker=_mysql.start_mysql_container,
    local=_mysql.start_local_mariadb,
    default_port=3306,
)
AWS = ServiceSpec(
    "An AWS-protocol endpoint",
    "COMMONS_AWS_ENDPOINT_URL",
    docker=_aws.start_localstack,
    local=_aws.start_moto_server,
)


@pytest.fixture(scope="session")
def redis_key_prefix() -> str:
    """The Redis key prefix of this test process, ``t:<slot>:<hex>:``; prefix every key with it."""
    return _names.redis_key_prefix()


@pytest.fixture(scope="session")
def redis_url(redis_key_prefix: str) -> Iterator[str]:
    """A Redis URL: COMMONS_REDIS_URL, else a container, else a local ``redis-server``.

    Keys under ``redis_key_prefix`` are deleted at the end of the session.
    """
    with ExitStack() as stack:
        url = find_service(REDIS, stack)
        yield url
        # Best effort: the server may be gone (a test stopped it).
        with contextlib.suppress(OSError, ValueError):
            _redis.delete_keys(url, redis_key_prefix)


@pytest.fixture(scope="session")
def redis_server_factory() -> Iterator[Callable[..., _redis.LocalRedisServer]]:
    """A callable starting a dedicated ``redis-server`` on a free port; every one is stopped at session end.

    Keyword arguments go to :class:`LocalRedisServer`. Without a ``redis-server`` binary on PATH the
    calling test is skipped (or fails with COMMONS_REQUIRE_SERVICES=1).
    """
    with ExitStack() as stack:

        def start(**options: Any) -> _redis.LocalRedisServer:
            try:
                server = _redis.LocalRedisServer(**options)
            except ServiceUnavailable as exc:
                not_available(f"redis_server_factory needs a redis-server binary on PATH ({exc})")
            stack.callback(server.close)
            return server.start()

        yield start


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[_topologies.RedisCluster]:
    """A Redis Cluster: COMMONS_REDIS_CLUSTER_URL (``redis://host:port,...``), else six local nodes.

    Locally: three primaries with one replica each, ``cluster_state:ok``; ``kill(port)``/``restart(port)``
    a node for failover tests. Every process is stopped at session end.
    """
    with ExitStack() as stack:
        yield _topologies.find_redis_cluster(stack)


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[_topologies.RedisSentinel]:
    """Redis Sentinel: COMMONS_REDIS_SENTINEL_URL (``redis+sentinel://host:port,.../name``), else local.

    Locally: a master, its replica and three sentinels (quorum 2, down after 1 s); ``kill_master()`` for
    failover tests. Every process is stopped at session end.
    """
    with ExitStack() as stack:
        yield _topologies.find_redis_sentinel(stack)


@pytest.fixture(scope="session")
def postgres_replica() -> Iterator[_topologies.PostgresReplica]:
    """A PostgreSQL primary and its streaming replica (``primary_url``, ``replica_url``).

    COMMONS_POSTGRES_REPLICA_URL with COMMONS_POSTGRES_PRIMARY_URL, else a local pair (``pg_basebackup -R``);
    ``stop_replica()``/``start_replica()`` for fallback tests. Both servers are stopped at session end.
    """
    with ExitStack() as stack:
        yield _topologies.find_postgres_replica(stack)


def _fresh_database(
    service: ServiceSpec, fresh_database: Callable[[str], AbstractContextManager[str]], kind: str
) -> Iterator[str]:
    """Find the server, create a database for this process, yield its URL, drop it afterwards."""
    with ExitStack() as stack:
        server_url = find_service(service, stack)
        try:
            url = stack.enter_context(fresh_database(server_url))
        except ServiceUnavailable as exc:
            not_available(f"cannot create a {kind} database: {exc}")
        yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A ``postgresql://`` URL of a database created for this test process and dropped at the end."""
    yield from _fresh_database(POSTGRES, _postgres.fresh_database, "PostgreSQL")


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    """A ``mysql://`` URL of a database created for this test process and dropped at the end."""
    yield from _fresh_database(MYSQL, _mysql.fresh_database, "MySQL")


@pytest.fixture(scope="session")
def aws_endpoint_url() -> Iterator[str]:
    """The URL of an AWS-protocol endpoint for S3, DynamoDB and SQS.

    COMMONS_AWS_ENDPOINT_URL, else LocalStack, else moto's standalone server. Name resources with
    ``unique_name`` so that parallel test processes never share them.
    """
    with ExitStack() as stack:
        yield find_service(AWS, stack)


@pytest.fixture()
def aws_proxy(aws_endpoint_url: str) -> Iterator[_proxy.AwsProxy]:
    """A fault-injecting proxy in front of ``aws_endpoint_url``, fresh for each test.

    Point a client's ``endpoint_url`` at ``aws_proxy.url``; set ``unprocessed_fraction`` to make
    DynamoDB batch writes come back partly unprocessed (really unwritten), or
    ``corrupt_receipt_handles`` to make SQS reject deletes and visibility changes.
    """
    with _proxy.AwsProxy(aws_endpoint_url) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def aws_credentials() -> dict[str, str]:
    """Fake credentials and region as boto3/aioboto3 client keyword arguments (not read from the env)."""
    return _aws.fake_credentials()


@pytest.fixture()
def unique_name(request: pytest.FixtureRequest) -> str:
    """A name unique to this process and test: lowercase, DNS-safe, at most 40 characters."""
    return _names.unique_name(request.node.name)


@pytest.fixture(scope="session")
def serve_asgi() -> Iterator[Callable[..., str]]:
    """A callable ``(app, **options) -> base_url`` serving an ASGI app with uvicorn on a free port.

    Every server is stopped at session end.
    """
    with ExitStack() as stack:

        def serve(app: Any, **options: Any) -> str:
            if not _asgi.uvicorn_installed():
                not_available("serve_asgi needs uvicorn; add it to the test dependencies")
            return stack.enter_context(_asgi.serve_asgi_app(app, **options))

        yield serve
