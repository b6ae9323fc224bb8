"""RdbmsSettings: URL normalisation, secrecy, sources and engine options; Database construction."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import Column, Integer, MetaData, Table, inspect

from internal_base.errors import ConfigurationError
from internal_base.health import HealthRegistry, HealthStatus, default_registry
from internal_rdbms import Database, RdbmsSettings, RdbmsUnavailableError, normalize_url

SECRET = "s3cr3t-pw"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("mysql://u@h/db", "mysql+aiomysql://u@h/db"),
        ("mariadb://u@h/db", "mysql+aiomysql://u@h/db"),
        ("sqlite://", "sqlite+aiosqlite://"),
        ("sqlite:///tmp/x.db", "sqlite+aiosqlite:///tmp/x.db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("MySQL+AIOMySQL://u@h/db", "mysql+aiomysql://u@h/db"),
    ],
)
def test_plain_urls_get_async_drivers(url: str, expected: str) -> None:
    """Plain schemes are rewritten to their asyncio driver; async ones are kept."""
    assert normalize_url(url) == expected


@pytest.mark.parametrize("url", [f"postgresql+psycopg2://u:{SECRET}@h/db", f"oracle://u:{SECRET}@h/db"])
def test_unsupported_scheme_is_rejected_without_the_password(url: str) -> None:
    """A synchronous driver or unknown scheme is rejected; the message masks the password."""
    with pytest.raises(ValueError, match="is not supported") as info:
        normalize_url(url)
    assert SECRET not in str(info.value)
    assert "u:***@h" in str(info.value)


def test_url_without_scheme_is_rejected() -> None:
    """A string that is not a URL is rejected with a clear message."""
    with pytest.raises(ValueError, match="scheme://"):
        normalize_url("just-a-host")


def test_settings_normalise_and_mask_the_url() -> None:
    """The URL is normalised, kept secret in repr/str and shown redacted on demand."""
    settings = RdbmsSettings(url=f"postgresql://app:{SECRET}@db:5432/app")
    assert settings.url.get_secret_value() == f"postgresql+asyncpg://app:{SECRET}@db:5432/app"
    assert settings.redacted_url == "postgresql+asyncpg://app:***@db:5432/app"
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert SECRET not in settings.model_dump_json()
    assert settings.backend == "postgresql"


def test_invalid_url_error_hides_the_password() -> None:
    """A bad URL fails validation through ``load`` as ConfigurationError without the secret."""
    with pytest.raises(ConfigurationError, match="url") as info:
        RdbmsSettings.load(url=f"oracle://u:{SECRET}@h/db")
    assert SECRET not in str(info.value)
    with pytest.raises(ValidationError) as raw:
        RdbmsSettings(url=f"oracle://u:{SECRET}@h/db")
    assert SECRET not in str(raw.value)


def test_environment_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    """``COMMONS_RDBMS_*`` variables configure the settings."""
    monkeypatch.setenv("COMMONS_RDBMS_URL", "mariadb://root@db/app")
    monkeypatch.setenv("COMMONS_RDBMS_POOL_SIZE", "7")
    settings = RdbmsSettings.load()
    assert settings.url.get_secret_value() == "mysql+aiomysql://root@db/app"
    assert settings.pool_size == 7
    assert settings.backend == "mysql"


def test_yaml_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``rdbms`` section of the shared YAML file is read, with ``${VAR}`` substitution."""
    monkeypatch.setenv("DB_PASSWORD", SECRET)
    config = tmp_path / "config.yaml"
    config.write_text(
        "rdbms:\n  url: postgresql://app:${DB_PASSWORD}@db/app\n  pool_timeout: 2.5\n  echo: true\n",
        encoding="utf-8",
    )
    settings = RdbmsSettings.load(yaml_file=config)
    assert settings.url.get_secret_value() == f"postgresql+asyncpg://app:{SECRET}@db/app"
    assert (settings.pool_timeout, settings.echo) == (2.5, True)


def test_resilience_from_nested_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``COMMONS_RDBMS_RESILIENCE__...`` variables set the resilience section; bad values name the field."""
    monkeypatch.setenv("COMMONS_RDBMS_RESILIENCE__RETRY__ATTEMPTS", "5")
    monkeypatch.setenv("COMMONS_RDBMS_RESILIENCE__BREAKER__RESET_TIMEOUT", "2")
    settings = RdbmsSettings.load()
    assert (settings.resilience.retry.attempts, settings.resilience.breaker.reset_timeout) == (5, 2.0)
    monkeypatch.setenv("COMMONS_RDBMS_RESILIENCE__RETRY__ATTEMPTS", "0")
    with pytest.raises(ConfigurationError, match="resilience.retry.attempts"):
        RdbmsSettings.load()


def test_invalid_pool_values_name_the_field() -> None:
    """Bad pool numbers are rejected, naming the field."""
    with pytest.raises(ConfigurationError, match="pool_size"):
        RdbmsSettings.load(pool_size=0)
    with pytest.raises(ConfigurationError, match="pool_recycle"):
        RdbmsSettings.load(pool_recycle=0)
    assert RdbmsSettings(pool_recycle=-1).pool_recycle == -1


def test_engine_options_per_backend() -> None:
    """Pool options go to server backends; connect timeouts use each driver's argument."""
    pg = RdbmsSettings(url="postgresql://u@h/db", pool_size=3, max_overflow=1, pool_timeout=4)
    assert pg.engine_options() == {
        "echo": False,
        "hide_parameters": True,
        "pool_pre_ping": True,
        "connect_args": {"timeout": 10.0},
        "pool_size": 3,
        "max_overflow": 1,
        "pool_timeout": 4.0,
        "pool_recycle": 1800.0,
    }
    my = RdbmsSettings(url="mysql://u@h/db", connect_timeout=2.4)
    assert my.engine_options()["connect_args"] == {"connect_timeout": 2}
    memory = RdbmsSettings(url="sqlite://").engine_options()
    assert "pool_size" not in memory
    assert RdbmsSettings(url="sqlite:///:memory:").is_memory_sqlite is True
    assert RdbmsSettings(url="sqlite:////tmp/file.db").is_memory_sqlite is False
    assert RdbmsSettings(url="postgresql://u@h/db").is_memory_sqlite is False
    assert "pool_size" in RdbmsSettings(url="sqlite:////tmp/file.db").engine_options()


async def test_database_builds_engine_without_connecting(health_registry: HealthRegistry) -> None:
    """A Database exposes the real engine with the async driver and pool size; repr masks the password."""
    settings = RdbmsSettings(url=f"postgresql://app:{SECRET}@127.0.0.1:1/app", pool_size=4)
    db = Database(settings, health_registry=health_registry)
    try:
        assert db.engine.url.drivername == "postgresql+asyncpg"
        assert db.engine.pool.size() == 4  # type: ignore[attr-defined]
        assert repr(db) == "Database(url='postgresql+asyncpg://app:***@127.0.0.1:1/app')"
        assert db.backend == "postgresql"
        assert db.settings is settings
        assert db.session_factory.kw["expire_on_commit"] is False
    finally:
        await db.aclose()


async def test_database_from_url_string(health_registry: HealthRegistry) -> None:
    """A plain URL string is accepted and normalised."""
    async with Database("sqlite://", health_registry=health_registry) as db:
        assert db.engine.url.drivername == "sqlite+aiosqlite"
        await db.ping()


async def test_health_check_registration_and_report(health_registry: HealthRegistry) -> None:
    """The SELECT 1 check is registered under the configured name, reports pool details, and is removed."""
    db = Database(
        # A generous check timeout: a busy machine must not turn a healthy database unhealthy.
        RdbmsSettings(url="sqlite://", health_check_name="main-db", health_check_timeout=30),
        health_registry=health_registry,
    )
    assert health_registry.names == ["main-db"]
    report = await health_registry.readiness()
    assert report.status == HealthStatus.HEALTHY
    assert report.check("main-db").details["backend"] == "sqlite"
    await db.aclose()
    await db.aclose()
    assert health_registry.names == []


async def test_health_check_off_registers_nothing(health_registry: HealthRegistry) -> None:
    """``health_check=False`` in the settings leaves even a given registry untouched."""
    async with Database(RdbmsSettings(url="sqlite://", health_check=False), health_registry=health_registry):
        assert health_registry.names == []


async def test_health_check_off_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``COMMONS_RDBMS_HEALTH_CHECK=false`` keeps the process-wide registry untouched."""
    monkeypatch.setenv("COMMONS_RDBMS_URL", "sqlite://")
    monkeypatch.setenv("COMMONS_RDBMS_HEALTH_CHECK", "false")
    monkeypatch.setenv("COMMONS_RDBMS_HEALTH_CHECK_NAME", "rdbms-env-off")
    async with Database() as db:
        assert db.settings.health_check is False
        assert "rdbms-env-off" not in default_registry().names


async def test_default_registry_is_used_and_aclose_unregisters() -> None:
    """Without a registry the check goes to the process-wide one; ``aclose`` (twice) removes it."""
    db = Database(RdbmsSettings(url="sqlite://", health_check_name="rdbms-default-registry"))
    assert "rdbms-default-registry" in default_registry().names
    await db.aclose()
    await db.aclose()
    assert "rdbms-default-registry" not in default_registry().names


async def test_database_reads_only_the_yaml_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, health_registry: HealthRegistry
) -> None:
    """With only ``COMMONS_CONFIG_FILE`` set, ``Database()`` reads the ``rdbms:`` section of that file."""
    for name in [name for name in os.environ if name.startswith("COMMONS_")]:
        monkeypatch.delenv(name)
    config = tmp_path / "service.yaml"
    config.write_text(
        f"rdbms:\n  url: sqlite:///{tmp_path}/yaml.db\n  pool_size: 3\n  health_check_name: from-yaml\n"
        "  resilience:\n    retry:\n      attempts: 7\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("COMMONS_CONFIG_FILE", str(config))
    async with Database(health_registry=health_registry) as db:
        assert db.engine.url.database == f"{tmp_path}/yaml.db"
        assert db.engine.pool.size() == 3  # type: ignore[attr-defined]
        assert db.settings.resilience.retry.attempts == 7
        assert health_registry.names == ["from-yaml"]


async def test_unreachable_database_is_unavailable_and_unhealthy(
    tmp_path: Path, health_registry: HealthRegistry
) -> None:
    """A database that cannot be opened raises RdbmsUnavailableError and fails the health check."""
    url = f"sqlite:///{tmp_path}/missing-dir/x.db"
    async with Database(url, health_registry=health_registry) as db:
        with pytest.raises(RdbmsUnavailableError, match="database unavailable"):
            await db.ping()
        report = await health_registry.readiness()
        assert report.status == HealthStatus.UNHEALTHY
        assert "RdbmsUnavailableError" in (report.check("rdbms").error or "")
    await _aiosqlite_threads_stopped()


async def _aiosqlite_threads_stopped() -> None:
    # aiosqlite stops the worker of a failed connection without awaiting it; let it finish
    # before the event loop closes, or the thread reports "Event loop is closed". A generous
    # deadline: on a busy machine the thread may wait seconds for a CPU.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not any(t.is_alive() and "_connection_worker_thread" in t.name for t in threading.enumerate()):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("aiosqlite worker threads did not stop within 30 s")


async def test_database_from_environment(
    monkeypatch: pytest.MonkeyPatch, health_registry: HealthRegistry
) -> None:
    """``Database()`` without arguments loads RdbmsSettings from the environment."""
    monkeypatch.setenv("COMMONS_RDBMS_URL", "sqlite://")
    monkeypatch.setenv("COMMONS_RDBMS_HEALTH_CHECK_NAME", "from-env")
    async with Database(health_registry=health_registry) as db:
        assert db.engine.url.drivername == "sqlite+aiosqlite"
        assert health_registry.names == ["from-env"]


async def test_create_and_drop_all(health_registry: HealthRegistry) -> None:
    """``create_all`` / ``drop_all`` create and remove the tables of a metadata."""
    metadata = MetaData()
    Table("cfg_things", metadata, Column("id", Integer, primary_key=True))
    async with Database("sqlite://", health_registry=health_registry) as db:
        await db.create_all(metadata)
        async with db.engine.connect() as connection:
            assert await connection.run_sync(lambda c: inspect(c).get_table_names()) == ["cfg_things"]
        await db.drop_all(metadata)
        async with db.engine.connect() as connection:
            assert await connection.run_sync(lambda c: inspect(c).get_table_names()) == []
