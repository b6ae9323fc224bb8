"""Building and closing a client: CacheSettings.load(), the caller's redis client, health, lifecycle."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from fakeredis import FakeAsyncRedis

from internal_base.errors import ConfigurationError
from internal_base.health import HealthRegistry, default_registry
from internal_cache import CacheClient, CacheSettings


@pytest.fixture()
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A YAML file named by COMMONS_CONFIG_FILE, the only cache configuration in the environment."""
    for name in list(os.environ):
        if name.startswith("COMMONS_CACHE_"):
            monkeypatch.delenv(name)
    path = tmp_path / "service.yaml"
    path.write_text(
        "cache:\n  url: redis://:yaml-secret@127.0.0.1:6399/3\n  key_prefix: 'from-yaml:'\n"
        "  resilience:\n    breaker: {reset_timeout: 1.5}\n"
    )
    monkeypatch.setenv("COMMONS_CONFIG_FILE", str(path))
    return path


async def test_no_settings_reads_config_file(config_file: Path) -> None:
    """CacheClient() with only COMMONS_CONFIG_FILE set takes url, key_prefix and resilience from it."""
    async with CacheClient(health_registry=HealthRegistry()) as client:
        assert client.url == "redis://:***@127.0.0.1:6399/3"
        assert isinstance(client.redis, aioredis.Redis)
        assert client.redis.connection_pool.connection_kwargs["port"] == 6399
        assert client.redis.connection_pool.connection_kwargs["db"] == 3
        assert client.prefix.prefix == "from-yaml:"
        assert client.key("k") == "from-yaml:k"
        assert client.link.breaker is not None
        assert client.link.breaker.reset_timeout == 1.5


async def test_caller_redis_takes_loaded_settings(config_file: Path, fake_redis: FakeAsyncRedis) -> None:
    """CacheClient(redis=...) without settings still loads the prefix from the YAML file."""
    async with CacheClient(redis=fake_redis, health_registry=HealthRegistry()) as client:
        assert client.redis is fake_redis
        await client.set("k", 1)
    assert await fake_redis.get("from-yaml:k") == b"1"
    assert await fake_redis.ping() is True  # the caller's client is left open


async def test_from_url_loads_other_settings(config_file: Path) -> None:
    """from_url() overrides the URL; the other settings still come from the YAML file."""
    async with CacheClient.from_url("redis://127.0.0.1:6398/1", health_registry=HealthRegistry()) as client:
        assert client.url == "redis://127.0.0.1:6398/1"
        assert client.prefix.prefix == "from-yaml:"


def test_from_url_rejects_unknown_setting() -> None:
    """A setting CacheSettings does not have (e.g. a key moved into resilience) is named in the error."""
    with pytest.raises(ConfigurationError, match="retry_attempts"):
        CacheClient.from_url("redis://127.0.0.1:6398/1", retry_attempts=1)


async def test_health_check_defaults_to_process_registry(fake_redis: FakeAsyncRedis) -> None:
    """Without health_registry= the PING check goes to default_registry(); aclose removes it."""
    name = "cache-default-registry-test"
    client = CacheClient(CacheSettings(health_check_name=name), redis=fake_redis)
    assert name in default_registry().names
    await client.aclose()
    assert name not in default_registry().names


async def test_health_check_off_registers_nothing(fake_redis: FakeAsyncRedis) -> None:
    """health_check=False in the settings registers no check, even with a registry given."""
    registry = HealthRegistry()
    async with CacheClient(CacheSettings(health_check=False), redis=fake_redis, health_registry=registry):
        assert registry.names == []


async def test_health_check_env_switch(monkeypatch: pytest.MonkeyPatch, fake_redis: FakeAsyncRedis) -> None:
    """COMMONS_CACHE_HEALTH_CHECK=false turns registration off for a client built without settings."""
    monkeypatch.setenv("COMMONS_CACHE_HEALTH_CHECK", "false")
    registry = HealthRegistry()
    async with CacheClient(redis=fake_redis, health_registry=registry):
        assert registry.names == []


async def test_async_with_closes_once(fake_redis: FakeAsyncRedis) -> None:
    """async with returns the client and closes it on exit; aclose() again is a no-op."""
    registry = HealthRegistry()
    client = CacheClient(CacheSettings(), redis=fake_redis, health_registry=registry)
    async with client as entered:
        assert entered is client
        assert registry.names == ["redis"]
    assert registry.names == []
    await client.aclose()
    assert registry.names == []


async def test_caller_redis_names_breaker_after_itself(fake_redis: FakeAsyncRedis) -> None:
    """With redis= the URL in settings is unused: errors and the breaker name the caller's client."""
    settings = CacheSettings(url="redis://:pw@elsewhere:1/0", health_check=False)
    async with CacheClient(settings, redis=fake_redis) as client:
        assert client.link.breaker is not None
        assert client.link.breaker.name == f"redis {client.url}"
        assert "elsewhere" not in client.url
