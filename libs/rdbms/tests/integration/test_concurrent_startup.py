"""Several processes starting at once on an empty schema: every ``create_all`` succeeds (issue #15).

Real processes (``subprocess``), released together by a start file, each run ``Database.create_all``
on the same fresh tables. Without the cross-process lock, PostgreSQL fails with duplicate
``pg_type`` rows, MariaDB and SQLite with "table already exists".
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from internal_rdbms.config import normalize_url

_WORKERS = 4
_TABLES = 12
_SCRIPT = """
import asyncio, os, sys, time
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table
from internal_rdbms import Database, RdbmsSettings

url, prefix, go, ready = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
metadata = MetaData()
for i in range(%(tables)d):
    parent = [Column("parent_id", Integer, ForeignKey(f"{prefix}_{i - 1}.id"))] if i else []
    Table(f"{prefix}_{i}", metadata, Column("id", Integer, primary_key=True),
          Column("name", String(40), index=True, unique=True), *parent)

async def main():
    db = Database(RdbmsSettings(url=url, health_check=False))
    try:
        await db.create_all(metadata, lock_timeout=120)
    finally:
        await db.aclose()

open(ready, "w").close()
deadline = time.monotonic() + 120
while not os.path.exists(go):
    if time.monotonic() > deadline:
        sys.exit("never started")
    time.sleep(0.005)
asyncio.run(main())
""" % {"tables": _TABLES}


@pytest.fixture(params=["postgresql", "mysql", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """This process's PostgreSQL or MariaDB database, or a new SQLite file."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/startup.db"
    found: str = request.getfixturevalue("postgres_url" if request.param == "postgresql" else "mysql_url")
    return found


def _start_together(url: str, prefix: str, tmp_path: Path) -> list[tuple[int, str]]:
    """Start the workers, wait until each has imported everything, then release them at once."""
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    workers = [
        subprocess.Popen(  # this interpreter, a fixed script
            [sys.executable, "-c", _SCRIPT, url, prefix, str(go), str(tmp_path / f"ready-{index}")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for index in range(_WORKERS)
    ]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{index}").exists() for index in range(_WORKERS)):
        if any(worker.poll() is not None for worker in workers) or time.monotonic() > deadline:
            break  # a worker died early: its error is reported below
        time.sleep(0.01)
    go.touch()
    results = []
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        results.append((worker.returncode, err[-2000:]))
    return results


def _tables(url: str, prefix: str, *, drop: bool = False) -> list[str]:
    """The tables named ``prefix_*`` (dropped afterwards with ``drop``), read by a fresh engine."""

    async def names() -> list[str]:
        engine = create_async_engine(normalize_url(url))
        try:
            async with engine.begin() as connection:
                found = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
                mine = sorted(name for name in found if name.startswith(prefix))
                for name in sorted(mine, key=lambda n: -int(n.rsplit("_", 1)[1])) if drop else []:
                    await connection.execute(text(f"DROP TABLE {name}"))
        finally:
            await engine.dispose()
        return mine

    return asyncio.run(names())


def test_processes_starting_together_all_create_the_schema(
    url: str, tmp_path: Path, unique_name: str
) -> None:
    """Four processes run create_all at the same moment on an empty schema: all exit 0, tables exist once."""
    prefix = f"cs_{unique_name[-12:]}".replace("-", "_")
    results = _start_together(url, prefix, tmp_path)
    assert [code for code, _ in results] == [0] * _WORKERS, [err for _, err in results]
    assert _tables(url, prefix, drop=True) == sorted(f"{prefix}_{i}" for i in range(_TABLES))
