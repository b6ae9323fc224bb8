"""PostgreSQL: a fresh database per test process, and a local ``postgres`` server for the test run."""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from internal_testing._discovery import NO_TESTCONTAINERS, ServiceUnavailable
from internal_testing._names import database_name
from internal_testing._process import free_port, terminate, wait_until
from internal_testing._sql import ServerUrl, run_coroutine

__all__ = ["admin_driver", "execute", "fresh_database", "start_local_postgres", "start_postgres_container"]


def admin_driver() -> str:
    """How databases are created here: ``"asyncpg"``, else the ``"psql"`` client.

    Raises:
        ServiceUnavailable: When neither is installed.
    """
    if importlib.util.find_spec("asyncpg") is not None:
        return "asyncpg"
    if shutil.which("psql") is not None:
        return "psql"
    raise ServiceUnavailable("neither asyncpg nor the psql client is installed")


def execute(server: ServerUrl, sql: str, *, driver: str) -> None:
    """Run one SQL statement on ``server`` (outside a transaction) with ``driver``."""
    if driver == "asyncpg":

        async def run() -> None:
            import asyncpg  # pants: no-infer-dep

            conn = await asyncpg.connect(
                host=server.host,
                port=server.port,
                user=server.user,
                password=server.password,
                database=server.database,
                timeout=10,
            )
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        run_coroutine(run)
        return
    psql = ["psql", server.with_database(server.database), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql]
    result = subprocess.run(
        psql,  # noqa: S603 - the psql client from PATH, no shell
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"psql failed ({result.returncode}): {result.stderr.strip()}")


@contextmanager
def fresh_database(server_url: str, *, driver: str | None = None) -> Iterator[str]:
    """Create a database ``t_<pid>_<hex>`` on the server of ``server_url``.

    Yields its ``postgresql://`` URL; drops it on exit (``WITH (FORCE)`` closes leftover connections).

    Args:
        server_url: Any URL of the server; its database is used for the administrative connection.
        driver: ``"asyncpg"`` or ``"psql"``; chosen by :func:`admin_driver` when None.

    Raises:
        ServiceUnavailable: When there is no way to run SQL.
    """
    server = ServerUrl.parse(server_url, scheme="postgresql", default_port=5432, default_database="postgres")
    driver = driver or admin_driver()
    name = database_name()
    execute(server, f'CREATE DATABASE "{name}"', driver=driver)
    try:
        yield server.with_database(name)
    finally:
        execute(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', driver=driver)


def _service_user() -> pwd.struct_passwd | None:
    """The account to run ``postgres`` as: None when not root (run as ourselves), else ``postgres``."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise ServiceUnavailable("postgres refuses to run as root and there is no 'postgres' user") from None


def _ready(data: Path) -> bool:
    """Whether the postmaster reports it accepts connections (what ``pg_ctl -w`` checks)."""
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    return len(lines) >= 8 and lines[7].strip() == "ready"


def start_local_postgres(stack: ExitStack) -> str:
    """The local step of PostgreSQL discovery: ``initdb`` + ``postgres`` in a temporary directory.

    As root, the server runs as the ``postgres`` account (PostgreSQL refuses to run as root).
    """
    initdb, postgres = shutil.which("initdb"), shutil.which("postgres")
    if initdb is None or postgres is None:
        raise ServiceUnavailable("no initdb/postgres binaries on PATH")
    account = _service_user()
    tmp = Path(tempfile.mkdtemp(prefix="postgres-"))
    stack.callback(shutil.rmtree, tmp, True)
    if account is not None:
        os.chown(tmp, account.pw_uid, account.pw_gid)
    user = account.pw_name if account is not None else None
    data, log = tmp / "data", tmp / "postgres.log"
    init = subprocess.run(  # - a binary found on PATH, fixed arguments
        [initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],  # noqa: S603
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp,
        user=user,
        check=False,
    )
    if init.returncode != 0:
        raise ServiceUnavailable(f"initdb failed: {init.stderr.strip()[-500:]}")
    port = free_port()
    args = [postgres, "-D", str(data), "-p", str(port), "-h", "127.0.0.1", "-k", str(tmp)]
    for setting in ("fsync=off", "full_page_writes=off", "synchronous_commit=off"):
        args += ["-c", setting]
    with log.open("wb") as out:
        process = subprocess.Popen(
            args,  # noqa: S603 - a binary found on PATH, fixed arguments
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp,
            user=user,
        )
    stack.callback(terminate, process, sig=signal.SIGINT)
    wait_until(lambda: _ready(data), what="postgres", timeout=60, process=process, log=log)
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def start_postgres_container(stack: ExitStack) -> str:  # pragma: no cover - needs Docker
    """The Docker step of PostgreSQL discovery: a ``postgres`` container for the whole test run."""
    try:
        from testcontainers.postgres import PostgresContainer  # pants: no-infer-dep
    except ImportError as exc:
        raise ServiceUnavailable(NO_TESTCONTAINERS) from exc
    container = PostgresContainer("postgres:16-alpine", driver=None)
    try:
        container.start()
    except Exception as exc:
        raise ServiceUnavailable(f"the postgres container did not start: {exc}") from exc
    stack.callback(container.stop)
    url: str = container.get_connection_url()
    return url
