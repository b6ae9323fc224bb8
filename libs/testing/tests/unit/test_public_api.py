from __future__ import annotations

import internal_testing
from internal_testing import plugin


def test_all_is_sorted_and_complete() -> None:
    assert internal_testing.__all__ == sorted(internal_testing.__all__)
    assert all(hasattr(internal_testing, name) for name in internal_testing.__all__)
    assert {"LocalRedisServer", "ServiceUnavailable", "serve_asgi_app"} <= set(internal_testing.__all__)


def test_the_plugin_defines_the_contract_fixtures() -> None:
    expected = {
        "aws_credentials",
        "aws_endpoint_url",
        "aws_proxy",
        "mysql_url",
        "postgres_url",
        "redis_key_prefix",
        "redis_server_factory",
        "redis_url",
        "serve_asgi",
        "unique_name",
    }
    assert set(plugin.__all__) == expected
    assert all(callable(getattr(plugin, name)) for name in expected)
