"""Alembic migrations through internal_rdbms on PostgreSQL, MariaDB/MySQL and SQLite (a fresh database each).

The sample history (``tests/migrations_sample``): 0001 create table, 0002 add a column with a
server default, 0003 add an index, 0004 rename a column.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from internal_rdbms import RdbmsError, normalize_url
from internal_rdbms._migrations import _lock_key
from internal_rdbms.migrations import (
    RdbmsMigrationError,
    RdbmsSchemaDriftError,
    check,
    current,
    downgrade,
    upgrade,
)
from internal_testing import _mysql, _postgres

SAMPLE = Path(__file__).resolve().parent.parent / "migrations_sample"
HEAD = ("0004",)

_FAILING = '''
"""Create a table, add a column, then fail.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade():
    op.create_table("mig_broken", sa.Column("id", sa.Integer, primary_key=True))
    op.add_column("mig_items", sa.Column("extra", sa.Integer, nullable=True))
    op.execute("SELECT no_such_column FROM mig_items")


def downgrade():
    pass
'''

# Waits (bounded) until both processes are about to upgrade, so their runs overlap; counts its runs.
_RENDEZVOUS = '''
"""Record that this migration ran, once both processes have started upgrading.

Revision ID: 0005
Revises: 0004
"""

import os
import pathlib
import time

revision = "0005"
down_revision = "0004"


def upgrade():
    directory = pathlib.Path(os.environ["MIGRATION_TEST_DIR"])
    with open(directory / "ran", "a") as ran:
        ran.write("ran\\n")
    deadline = time.monotonic() + 60
    while len(list(directory.glob("ready-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)  # not needed for correctness: gives an unlocked rival time to start the same work


def downgrade():
    pass
'''

_CHILD = """
import asyncio, os, pathlib, sys
from internal_rdbms.migrations import upgrade
(pathlib.Path(os.environ["MIGRATION_TEST_DIR"]) / f"ready-{os.getpid()}").touch()
asyncio.run(upgrade(sys.argv[1], url=sys.argv[2]))
"""


@pytest.fixture(params=["postgresql", "mysql", "sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """The backend of the test."""
    return str(request.param)


@pytest.fixture()
def url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL of an empty database created for this test (SQLite: a file in ``tmp_path``)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.sqlite'}"
        return
    module = _postgres if backend == "postgresql" else _mysql
    server: str = request.getfixturevalue("postgres_url" if backend == "postgresql" else "mysql_url")
    with module.fresh_database(server) as fresh:
        yield fresh


@pytest.fixture()
def scripts(tmp_path: Path) -> Path:
    """A private copy of the sample script directory (tests add revisions to it)."""
    return Path(shutil.copytree(SAMPLE, tmp_path / "migrations"))


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(normalize_url(url))
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def _columns(url: str, table: str) -> list[str]:
    engine = create_async_engine(normalize_url(url))
    try:
        async with engine.connect() as connection:
            found = await connection.run_sync(lambda sync: inspect(sync).get_columns(table))
            return [column["name"] for column in found]
    finally:
        await engine.dispose()


async def test_empty_database_has_no_revision(scripts: Path, url: str) -> None:
    """current() of a database never migrated is empty."""
    assert await current(scripts, url=url) == ()


async def test_upgrade_head_applies_every_revision(scripts: Path, url: str) -> None:
    """upgrade() to head leaves the database at the last revision with the final columns."""
    await upgrade(scripts, url=url)
    assert await current(scripts, url=url) == HEAD
    assert await _columns(url, "mig_items") == ["id", "title", "status"]


async def test_autogenerate_finds_nothing_right_after_upgrade_head(scripts: Path, url: str) -> None:
    """check() passes right after upgrade head: the models and the migrations agree."""
    await upgrade(scripts, url=url)
    await check(scripts, url=url)


async def test_upgrade_check_downgrade_upgrade_round_trip(scripts: Path, url: str) -> None:
    """Downgrading to base drops everything, and upgrading again reaches a checked head."""
    await upgrade(scripts, url=url)
    await downgrade(scripts, "base", url=url)
    assert (await current(scripts, url=url), await _tables(url) - {"alembic_version"}) == ((), set())
    await upgrade(scripts, url=url)
    await check(scripts, url=url)
    assert await current(scripts, url=url) == HEAD


async def test_rows_keep_their_values_through_default_and_rename(scripts: Path, url: str) -> None:
    """A row written at 0001 gets the server default of 0002 and keeps its value through the rename."""
    await upgrade(scripts, "0001", url=url)
    engine = create_async_engine(normalize_url(url))
    try:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO mig_items (id, name) VALUES (1, 'first')"))
        await upgrade(scripts, url=url)
        async with engine.connect() as connection:
            row = (await connection.execute(text("SELECT id, title, status FROM mig_items"))).one()
    finally:
        await engine.dispose()
    assert tuple(row) == (1, "first", "new")


async def test_check_reports_models_ahead_of_migrations(scripts: Path, url: str) -> None:
    """check() raises RdbmsSchemaDriftError naming a column the models have and no migration adds."""
    models = scripts / "models.py"
    models.write_text(
        models.read_text().replace(
            '    Index("ix_mig_items_status", "status"),',
            '    Column("note", String(50), nullable=True),\n    Index("ix_mig_items_status", "status"),',
        )
    )
    await upgrade(scripts, url=url)
    with pytest.raises(RdbmsSchemaDriftError) as caught:
        await check(scripts, url=url)
    assert [(diff[0], diff[2], diff[3].name) for diff in caught.value.differences] == [
        ("add_column", "mig_items", "note")
    ]


async def test_failing_migration_leaves_the_previous_revision(scripts: Path, url: str, backend: str) -> None:
    """A migration failing half-way leaves alembic_version at the previous revision on every backend."""
    (scripts / "versions" / "rev_0005_failing.py").write_text(_FAILING)
    await upgrade(scripts, "0004", url=url)
    with pytest.raises(RdbmsError):
        await upgrade(scripts, url=url)
    assert await current(scripts, url=url) == HEAD


async def test_failing_migration_rolls_back_its_ddl_where_ddl_is_transactional(
    scripts: Path, url: str, backend: str
) -> None:
    """PostgreSQL and SQLite undo the failed migration's DDL; MariaDB keeps what ran before the error."""
    (scripts / "versions" / "rev_0005_failing.py").write_text(_FAILING)
    await upgrade(scripts, "0004", url=url)
    with pytest.raises(RdbmsError):
        await upgrade(scripts, url=url)
    kept = ("mig_broken" in await _tables(url), "extra" in await _columns(url, "mig_items"))
    assert kept == ((True, True) if backend == "mysql" else (False, False))


async def test_failed_upgrade_from_base_is_all_or_nothing_where_ddl_is_transactional(
    scripts: Path, url: str, backend: str
) -> None:
    """PostgreSQL and SQLite run one upgrade in one transaction; MariaDB commits each revision."""
    (scripts / "versions" / "rev_0005_failing.py").write_text(_FAILING)
    with pytest.raises(RdbmsError):
        await upgrade(scripts, url=url)
    assert await current(scripts, url=url) == (HEAD if backend == "mysql" else ())


def test_two_processes_upgrading_an_empty_database_both_succeed_once(
    scripts: Path, url: str, tmp_path: Path
) -> None:
    """Two processes upgrading one empty database at once both exit 0, and the schema is applied once."""
    (scripts / "versions" / "rev_0005_rendezvous.py").write_text(_RENDEZVOUS)
    env = {**os.environ, "MIGRATION_TEST_DIR": str(tmp_path), "PYTHONPATH": os.pathsep.join(sys.path)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(scripts), url],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outcomes = []
    for child in children:
        try:
            output, _ = child.communicate(timeout=180)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        outcomes.append((child.returncode, output[-2000:]))
    assert outcomes == [(0, ""), (0, "")]
    assert (tmp_path / "ran").read_text() == "ran\n"


def test_alembic_command_line_uses_the_library_settings(scripts: Path, url: str, tmp_path: Path) -> None:
    """``alembic upgrade head`` with the sample env.py migrates the database named by COMMONS_RDBMS_URL."""
    ini = tmp_path / "alembic.ini"
    ini.write_text(f"[alembic]\nscript_location = {scripts}\n")
    env = {**os.environ, "COMMONS_RDBMS_URL": url, "PYTHONPATH": os.pathsep.join(sys.path)}
    for args in (["upgrade", "head"], ["current"]):
        done = subprocess.run(
            [sys.executable, "-m", "alembic", "-c", str(ini), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["0004", "(head)"]


def test_alembic_command_line_takes_the_url_as_x_argument(scripts: Path, url: str, tmp_path: Path) -> None:
    """``alembic -x url=... upgrade head`` migrates that database, whatever COMMONS_RDBMS_URL says."""
    ini = tmp_path / "alembic.ini"
    ini.write_text(f"[alembic]\nscript_location = {scripts}\n")
    env = {**os.environ, "COMMONS_RDBMS_URL": "sqlite:///" + str(tmp_path / "other.sqlite")}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), "-x", f"url={url}", "upgrade", "0002"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, textwrap.shorten(done.stderr, 2000)
    assert asyncio.run(current(scripts, url=url)) == ("0002",)


@pytest.mark.parametrize("backend", ["postgresql", "mysql"], indirect=True)
async def test_lock_held_by_another_session_times_out_with_a_clear_error(
    scripts: Path, url: str, backend: str
) -> None:
    """While another session holds the migration lock, upgrade waits lock_timeout and then says so."""
    env = scripts / "env.py"
    env.write_text(
        env.read_text().replace(
            "run_migrations(models.metadata)", "run_migrations(models.metadata, lock_timeout=1)"
        )
    )
    engine = create_async_engine(normalize_url(url))
    try:
        async with engine.connect() as holder:
            if backend == "postgresql":
                key = _lock_key(".alembic_version")
                await holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            else:
                database = (await holder.execute(text("SELECT DATABASE()"))).scalar()
                key = _lock_key(f"{database}:.alembic_version") & 0xFFFFFFFFFFFF
                name = f"internal_rdbms.migrations.{key:x}"
                await holder.execute(text("SELECT GET_LOCK(:name, 0)"), {"name": name})
            with pytest.raises(RdbmsMigrationError, match="held the migration lock"):
                await upgrade(scripts, url=url)
    finally:
        await engine.dispose()
    assert await current(scripts, url=url) == ()


def test_internal_testing_checks_pass_on_the_sample_history(scripts: Path, url: str) -> None:
    """The checks a service runs in its tests pass for the sample history with the library's env.py."""
    from alembic.config import Config
    from alembic.util import load_python_file

    from internal_testing.migrations import (
        assert_models_match_migrations,
        assert_single_head,
        assert_upgrade_downgrade_roundtrip,
    )

    config = Config(stdout=io.StringIO())
    config.set_main_option("script_location", str(scripts))
    assert_single_head(config)
    assert_upgrade_downgrade_roundtrip(config, url)
    metadata = load_python_file(str(scripts), "models.py").metadata
    assert_models_match_migrations(config, url, metadata)
