"""Checks of an Alembic migration history a service runs in its own tests (as pytest-alembic does).

```python
from alembic.config import Config
from internal_testing.migrations import (
    assert_models_match_migrations, assert_single_head, assert_upgrade_downgrade_roundtrip,
)

config = Config("alembic.ini")

def test_single_head() -> None:
    assert_single_head(config)

def test_roundtrip(postgres_url: str) -> None:
    assert_upgrade_downgrade_roundtrip(config, postgres_url)

def test_models_match(postgres_url: str) -> None:
    assert_models_match_migrations(config, postgres_url, Base.metadata)
```

Each check runs the service's own ``env.py`` (any env.py that reads ``sqlalchemy.url``, such as
``internal_rdbms.migrations.run_migrations``), on an empty database given by URL. Alembic is
imported only when a check runs, so importing this module imports nothing else; install it with
``pip install 'internal-testing[migrations]'``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alembic.config import Config  # pants: no-infer-dep
    from alembic.script import ScriptDirectory  # pants: no-infer-dep

__all__ = ["assert_models_match_migrations", "assert_single_head", "assert_upgrade_downgrade_roundtrip"]


def assert_single_head(config: Config) -> None:
    """Fail unless the history has exactly one head (two heads: a merge migration is missing).

    Args:
        config: The service's Alembic config.

    Raises:
        AssertionError: No head, or several; the message lists them.
    """
    heads = _script(config).get_heads()
    if len(heads) != 1:
        raise AssertionError(
            f"expected one head revision, found {len(heads)}: {sorted(heads)} "
            "(two heads: write a merge migration, `alembic merge heads`)"
        )


def assert_upgrade_downgrade_roundtrip(config: Config, url: str) -> None:
    """Upgrade an empty database revision by revision, each one up, down and up again; then the whole way.

    Each revision is upgraded, downgraded and upgraded again (a ``downgrade()`` that leaves
    something behind fails the second upgrade); then the database is downgraded to base one
    revision at a time and upgraded to head again.

    Args:
        config: The service's Alembic config.
        url: URL of an empty database (``sqlalchemy.url`` is set for the check, then restored).

    Raises:
        AssertionError: A step failed; the message names the step and revision, ``__cause__`` is the error.
    """
    from alembic import command  # pants: no-infer-dep

    revisions = [script.revision for script in reversed(list(_script(config).walk_revisions()))]
    with _database(config, url):
        for revision in revisions:
            _step(f"upgrade to {revision}", command.upgrade, config, revision)
            _step(f"downgrade of {revision}", command.downgrade, config, f"{revision}-1")
            _step(f"upgrade to {revision} after its downgrade", command.upgrade, config, revision)
        for revision in reversed(revisions):
            _step(f"downgrade of {revision}", command.downgrade, config, f"{revision}-1")
        _step("upgrade to head after a full downgrade", command.upgrade, config, "head")
        now = _current_heads(config)
    if sorted(now) != sorted(_script(config).get_heads()):
        raise AssertionError(f"after the round trip the database is at {sorted(now)}, not at head")


def assert_models_match_migrations(config: Config, url: str, metadata: Any) -> None:
    """Upgrade an empty database to head and fail if autogenerate would still change it for ``metadata``.

    Args:
        config: The service's Alembic config.
        url: URL of an empty database (``sqlalchemy.url`` is set for the check, then restored).
        metadata: The models' :class:`~sqlalchemy.MetaData` (``Base.metadata``).

    Raises:
        AssertionError: The models differ from the migrated schema; the message lists the differences.
    """
    from alembic import command  # pants: no-infer-dep
    from alembic.autogenerate import compare_metadata  # pants: no-infer-dep

    differences: list[Any] = []

    def compare(_revision: Any, context: Any) -> list[Any]:
        differences.extend(compare_metadata(context, metadata))
        return []

    with _database(config, url):
        _step("upgrade to head", command.upgrade, config, "head")
        _run_env(config, compare)
    if differences:
        listed = "\n".join(f"  - {difference!r}" for difference in differences)
        raise AssertionError(
            f"models and migrations differ ({len(differences)} difference(s)); "
            f"write a migration (alembic revision --autogenerate):\n{listed}"
        )


def _script(config: Config) -> ScriptDirectory:
    from alembic.script import ScriptDirectory  # pants: no-infer-dep

    return ScriptDirectory.from_config(config)


def _step(name: str, action: Any, *args: Any) -> None:
    try:
        action(*args)
    except Exception as exc:
        raise AssertionError(f"migration step failed: {name}: {type(exc).__name__}: {exc}") from exc


def _run_env(config: Config, fn: Any) -> None:
    from alembic.runtime.environment import EnvironmentContext  # pants: no-infer-dep

    script = _script(config)
    with EnvironmentContext(config, script, fn=fn, dont_mutate=True):
        script.run_env()


def _current_heads(config: Config) -> list[str]:
    heads: list[str] = []

    def collect(_revision: Any, context: Any) -> list[Any]:
        heads.extend(context.get_current_heads())
        return []

    _run_env(config, collect)
    return heads


@contextlib.contextmanager
def _database(config: Config, url: str) -> Iterator[None]:
    previous = config.get_main_option("sqlalchemy.url")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser interpolation
    try:
        yield
    finally:
        if previous is None:
            config.remove_main_option("sqlalchemy.url")
        else:
            config.set_main_option("sqlalchemy.url", previous.replace("%", "%%"))
