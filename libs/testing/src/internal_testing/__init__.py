"""internal_testing: real-service pytest fixtures (PostgreSQL, MySQL/MariaDB, Redis, AWS, loopback HTTP).

The fixtures live in :mod:`internal_testing.plugin`; this package exports the helpers behind them and
the shared public-API check (:mod:`internal_testing.public_api`).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from internal_testing._asgi import AsgiServer, serve_asgi_app
from internal_testing._aws import MotoServer, fake_credentials
from internal_testing._discovery import ServiceSpec, ServiceUnavailable, find_service, services_required
from internal_testing._names import redis_key_prefix, unique_name
from internal_testing._pg_replica import PostgresReplica
from internal_testing._proxy import AwsProxy
from internal_testing._redis import LocalRedisServer
from internal_testing._redis_cluster import RedisCluster
from internal_testing._redis_sentinel import RedisSentinel
from internal_testing.public_api import assert_public_api, public_api_problems

try:
    __version__ = version("internal-testing")
except PackageNotFoundError:  # a source checkout without installed metadata
    __version__ = "0.0.0+source"

__all__ = [
    "AsgiServer",
    "AwsProxy",
    "LocalRedisServer",
    "MotoServer",
    "PostgresReplica",
    "RedisCluster",
    "RedisSentinel",
    "ServiceSpec",
    "ServiceUnavailable",
    "assert_public_api",
    "fake_credentials",
    "find_service",
    "public_api_problems",
    "redis_key_prefix",
    "serve_asgi_app",
    "services_required",
    "unique_name",
]
