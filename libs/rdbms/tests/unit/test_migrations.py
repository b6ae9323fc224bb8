"""The migration API and env.py on SQLite files: URLs, settings, errors, event loops, offline SQL."""

from __future__ import annotations

import asyncio
import io
import shutil
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config

from internal_rdbms.migrations import (
    URL_ATTRIBUTE,
    RdbmsMigrationError,
    RdbmsSchemaDriftError,
    check,
    current,
    downgrade,
    upgrade,
)
from internal_testing.public_api import assert_public_api

SAMPLE = Path(__file__).resolve().parent.parent / "migrations_sample"


@pytest.fixture()
def scripts(tmp_path: Path) -> Path:
    """A private copy of the sample script directory."""
    return Path(shutil.copytree(SAMPLE, tmp_path / "migrations"))


@pytest.fixture()
def url(tmp_path: Path) -> str:
    """A SQLite file URL (the file does not exist yet)."""
    return f"sqlite:///{tmp_path / 'app.sqlite'}"


def _env(scripts: Path, call: str) -> None:
    """Replace the sample env.py's ``run_migrations(...)`` call."""
    env = scripts / "env.py"
    source = env.read_text().replace("run_migrations(models.metadata)", call)
    env.write_text(
        source.replace(
            "import run_migrations\n", "import run_migrations\nfrom internal_rdbms import RdbmsSettings\n"
        )
    )


def test_public_api() -> None:
    """internal_rdbms.migrations has a sorted, resolvable, complete and documented ``__all__``."""
    assert_public_api("internal_rdbms.migrations")


async def test_url_argument_leaves_the_callers_config_as_it_was(scripts: Path, url: str) -> None:
    """url= applies to one call only: the caller's Config has no URL attribute afterwards."""
    config = Config(stdout=io.StringIO())
    config.set_main_option("script_location", str(scripts))
    await upgrade(config, url=url)
    assert (await current(config, url=url), URL_ATTRIBUTE in config.attributes) == (("0004",), False)


async def test_url_argument_restores_a_url_already_in_the_config(
    scripts: Path, url: str, tmp_path: Path
) -> None:
    """A URL attribute the caller set is put back after a call with another url=."""
    config = Config(stdout=io.StringIO())
    config.set_main_option("script_location", str(scripts))
    config.attributes[URL_ATTRIBUTE] = url
    await upgrade(config, "0001", url=f"sqlite:///{tmp_path / 'other.sqlite'}")
    assert (config.attributes[URL_ATTRIBUTE], await current(config)) == (url, ())


async def test_config_main_option_names_the_database(scripts: Path, url: str) -> None:
    """sqlalchemy.url of the Alembic config is used when no url= is given."""
    config = Config(stdout=io.StringIO())
    config.set_main_option("script_location", str(scripts))
    config.set_main_option("sqlalchemy.url", url)
    await upgrade(config, "0002")
    assert await current(scripts, url=url) == ("0002",)


async def test_library_settings_name_the_database_by_default(
    scripts: Path, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without any URL, COMMONS_RDBMS_URL (the library's settings) names the database."""
    monkeypatch.setenv("COMMONS_RDBMS_URL", url)
    await upgrade(scripts, "0003")
    assert await current(scripts, url=url) == ("0003",)


async def test_settings_given_in_env_py_are_used_without_a_url(scripts: Path, url: str) -> None:
    """run_migrations(settings=...) migrates the settings' database when nothing else names one."""
    _env(scripts, f"run_migrations(models.metadata, settings=RdbmsSettings(url={url!r}))")
    await upgrade(scripts)
    assert await current(scripts, url=url) == ("0004",)


async def test_url_argument_wins_over_settings_given_in_env_py(
    scripts: Path, url: str, tmp_path: Path
) -> None:
    """url= overrides the URL of the settings env.py passes, keeping the rest of them."""
    default = f"sqlite:///{tmp_path / 'default.sqlite'}"
    _env(scripts, f"run_migrations(models.metadata, settings=RdbmsSettings(url={default!r}))")
    await upgrade(scripts, url=url)
    assert (await current(scripts, url=url), await current(scripts, url=default)) == (("0004",), ())


async def test_in_memory_sqlite_is_refused(scripts: Path) -> None:
    """An in-memory SQLite URL is a clear error: its schema would vanish with the run."""
    with pytest.raises(RdbmsMigrationError, match="in-memory SQLite"):
        await upgrade(scripts, url="sqlite://")


async def test_missing_script_directory_is_named(tmp_path: Path, url: str) -> None:
    """A script directory that does not exist is an RdbmsMigrationError naming it."""
    with pytest.raises(RdbmsMigrationError, match="nowhere"):
        await upgrade(tmp_path / "nowhere", url=url)


async def test_unknown_revision_is_a_migration_error(scripts: Path, url: str) -> None:
    """Upgrading to a revision the history lacks is an RdbmsMigrationError naming it."""
    with pytest.raises(RdbmsMigrationError, match="9999"):
        await upgrade(scripts, "9999", url=url)


async def test_check_of_a_database_behind_head_is_a_migration_error(scripts: Path, url: str) -> None:
    """check() of a database not at head says so instead of listing differences."""
    await upgrade(scripts, "0002", url=url)
    with pytest.raises(RdbmsMigrationError, match="not up to date") as caught:
        await check(scripts, url=url)
    assert not isinstance(caught.value, RdbmsSchemaDriftError)


async def test_downgrade_one_step(scripts: Path, url: str) -> None:
    """downgrade("-1") goes back exactly one revision."""
    await upgrade(scripts, url=url)
    await downgrade(scripts, "-1", url=url)
    assert await current(scripts, url=url) == ("0003",)


async def test_non_positive_lock_timeout_is_refused(scripts: Path, url: str) -> None:
    """run_migrations(lock_timeout=0) is a ValueError naming the argument."""
    _env(scripts, "run_migrations(models.metadata, lock_timeout=0)")
    with pytest.raises(ValueError, match="lock_timeout"):
        await upgrade(scripts, url=url)


async def test_alembic_command_called_from_a_running_event_loop(scripts: Path, url: str) -> None:
    """Alembic's own (sync) command works when called from async code: env.py gets its own loop."""
    config = Config(stdout=io.StringIO())
    config.set_main_option("script_location", str(scripts))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "head")
    assert await current(scripts, url=url) == ("0004",)


def test_alembic_command_without_a_running_loop(scripts: Path, url: str) -> None:
    """Alembic's own command works from plain sync code too (env.py runs its own loop)."""
    config = Config(stdout=io.StringIO())
    config.set_main_option("script_location", str(scripts))
    config.attributes[URL_ATTRIBUTE] = url
    command.upgrade(config, "0001")
    assert asyncio.run(current(scripts, url=url)) == ("0001",)


def test_offline_mode_renders_sql_without_connecting(scripts: Path, url: str) -> None:
    """``alembic upgrade --sql`` renders the DDL and never creates the database file."""
    output = io.StringIO()
    config = Config(output_buffer=output, stdout=io.StringIO())
    config.set_main_option("script_location", str(scripts))
    config.attributes[URL_ATTRIBUTE] = url
    command.upgrade(config, "0003", sql=True)
    sql = output.getvalue()
    assert ("CREATE TABLE mig_items" in sql, "CREATE INDEX ix_mig_items_status" in sql) == (True, True)
    assert not Path(url.removeprefix("sqlite:///")).exists()
