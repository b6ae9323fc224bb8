"""internal_testing.migrations on a two-revision history with a plain synchronous env.py and SQLite files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.config import Config

from internal_testing.migrations import (
    assert_models_match_migrations,
    assert_single_head,
    assert_upgrade_downgrade_roundtrip,
)
from internal_testing.public_api import assert_public_api

_ENV = """
import os
from alembic import context
from alembic.util import load_python_file
from sqlalchemy import create_engine

metadata = load_python_file(os.path.dirname(__file__), "models.py").metadata
engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
try:
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
finally:  # a failing migration must not leave the SQLite connection open (a ResourceWarning on 3.13)
    engine.dispose()
"""

_MODELS = """
from sqlalchemy import Column, Integer, MetaData, String, Table

metadata = MetaData()
Table("people", metadata, Column("id", Integer, primary_key=True), Column("name", String(50)), {extra})
"""

_REVISION = '''
"""Revision {rev}."""
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = {down!r}


def upgrade():
    {upgrade}


def downgrade():
    {downgrade}
'''

_CREATE = (
    'op.create_table("people", sa.Column("id", sa.Integer, primary_key=True), '
    'sa.Column("name", sa.String(50)))'
)
_ADD_AGE = 'op.add_column("people", sa.Column("age", sa.Integer))'


def _revision(scripts: Path, rev: str, down: str | None, upgrade: str, downgrade: str) -> None:
    source = _REVISION.format(rev=rev, down=down, upgrade=upgrade, downgrade=downgrade)
    (scripts / "versions" / f"rev_{rev}.py").write_text(source)


@pytest.fixture()
def scripts(tmp_path: Path) -> Path:
    """A script directory: 0001 creates ``people``, 0002 adds ``age``; the models have both."""
    scripts = tmp_path / "migrations"
    (scripts / "versions").mkdir(parents=True)
    (scripts / "env.py").write_text(_ENV)
    (scripts / "models.py").write_text(_MODELS.format(extra='Column("age", Integer)'))
    _revision(scripts, "0001", None, _CREATE, 'op.drop_table("people")')
    _revision(scripts, "0002", "0001", _ADD_AGE, 'op.drop_column("people", "age")')
    return scripts


@pytest.fixture()
def config(scripts: Path) -> Config:
    """The Alembic config of ``scripts``."""
    config = Config()
    config.set_main_option("script_location", str(scripts))
    return config


@pytest.fixture()
def url(tmp_path: Path) -> str:
    """A SQLite file URL of an empty database."""
    return f"sqlite:///{tmp_path / 'db.sqlite'}"


def _metadata(scripts: Path) -> object:
    from alembic.util import load_python_file

    return load_python_file(str(scripts), "models.py").metadata


def test_public_api() -> None:
    """internal_testing.migrations has a sorted, resolvable, complete and documented ``__all__``."""
    assert_public_api("internal_testing.migrations")


def test_importing_the_module_imports_no_library() -> None:
    """Importing internal_testing.migrations loads neither alembic nor SQLAlchemy."""
    code = (
        "import sys, internal_testing.migrations; print(sorted({'alembic', 'sqlalchemy'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_single_head_passes(config: Config) -> None:
    """A linear history has one head."""
    assert_single_head(config)


def test_two_heads_fail_naming_both(config: Config, scripts: Path) -> None:
    """A second revision on top of 0001 makes two heads, both named in the failure."""
    _revision(scripts, "0003", "0001", "pass", "pass")
    with pytest.raises(AssertionError, match=r"found 2: \['0002', '0003'\]"):
        assert_single_head(config)


def test_roundtrip_passes_and_restores_the_config_url(config: Config, url: str) -> None:
    """A sound history survives up, down and up again; the config has no URL afterwards."""
    assert_upgrade_downgrade_roundtrip(config, url)
    assert config.get_main_option("sqlalchemy.url") is None


def test_roundtrip_fails_on_a_downgrade_that_leaves_its_column(
    config: Config, scripts: Path, url: str
) -> None:
    """A downgrade that forgets to drop what its upgrade added fails at the re-upgrade, named."""
    _revision(scripts, "0002", "0001", _ADD_AGE, "pass")
    with pytest.raises(AssertionError, match="upgrade to 0002"):
        assert_upgrade_downgrade_roundtrip(config, url)


def test_roundtrip_fails_on_a_broken_downgrade_naming_it(config: Config, scripts: Path, url: str) -> None:
    """A downgrade that raises fails the check with the revision it belongs to."""
    _revision(scripts, "0002", "0001", _ADD_AGE, 'op.drop_column("people", "no_such_column")')
    with pytest.raises(AssertionError, match="downgrade of 0002"):
        assert_upgrade_downgrade_roundtrip(config, url)


def test_models_match_passes_and_keeps_a_url_already_in_the_config(
    config: Config, scripts: Path, url: str
) -> None:
    """Models equal to the migrated schema pass; a URL the config had is put back (% kept)."""
    config.set_main_option("sqlalchemy.url", "sqlite:///elsewhere%%20.sqlite")
    assert_models_match_migrations(config, url, _metadata(scripts))
    assert config.get_main_option("sqlalchemy.url") == "sqlite:///elsewhere%20.sqlite"


def test_models_ahead_of_migrations_fail_listing_the_difference(
    config: Config, scripts: Path, url: str
) -> None:
    """A model column no migration adds is listed as an add_column difference."""
    (scripts / "models.py").write_text(
        _MODELS.format(extra='Column("age", Integer), Column("email", String(80))')
    )
    with pytest.raises(AssertionError, match=r"(?s)1 difference\(s\).*add_column.*email"):
        assert_models_match_migrations(config, url, _metadata(scripts))


def test_models_check_fails_when_upgrade_fails(config: Config, scripts: Path, url: str) -> None:
    """A history that cannot reach head fails the models check at the upgrade, not with a diff."""
    _revision(scripts, "0002", "0001", 'op.execute("SELECT no_such_column FROM people")', "pass")
    with pytest.raises(AssertionError, match="upgrade to head"):
        assert_models_match_migrations(config, url, _metadata(scripts))
