"""internal_testing: real-service pytest fixtures (PostgreSQL, MySQL/MariaDB, Redis, AWS, loopback HTTP).

The fixtures live in :mod:`internal_testing.plugin`; this package exports the helpers behind them.
"""

from __future__ import annotations

from internal_testing._asgi import AsgiServer, serve_asgi_app
from internal_testing._aws import MotoServer, fake_credentials
from internal_testing._discovery import ServiceSpec, ServiceUnavailable, find_service, services_required
from internal_testing._names import redis_key_prefix, unique_name
from internal_testing._redis import LocalRedisServer

__all__ = [
    "AsgiServer",
    "LocalRedisServer",
    "MotoServer",
    "ServiceSpec",
    "ServiceUnavailable",
    "fake_credentials",
    "find_service",
    "redis_key_prefix",
    "serve_asgi_app",
    "services_required",
    "unique_name",
]
