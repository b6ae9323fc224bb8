"""MySQL/MariaDB: a fresh database per test process, and a local ``mariadbd`` server for the test run."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from internal_testing._discovery import NO_TESTCONTAINERS, ServiceUnavailable
from internal_testing._names import database_name
from internal_testing._process import free_port, terminate, wait_until
from internal_testing._sql import ServerUrl, run_coroutine

__all__ = ["admin_driver", "execute", "fresh_database", "start_local_mariadb", "start_mysql_container"]


def _client() -> str | None:
    return shutil.which("mariadb") or shutil.which("mysql")


def admin_driver() -> str:
    """How databases are created here: ``"aiomysql"``, else the ``"cli"`` (``mariadb``/``mysql`` client).

    Raises:
        ServiceUnavailable: When neither is installed.
    """
    if importlib.util.find_spec("aiomysql") is not None:
        return "aiomysql"
    if _client() is not None:
        return "cli"
    raise ServiceUnavailable("neither aiomysql nor the mariadb/mysql client is installed")


def execute(server: ServerUrl, sql: str, *, driver: str) -> None:
    """Run SQL statements (separated by ``;``) on ``server`` with ``driver``, without selecting a database."""
    if driver == "aiomysql":

        async def run() -> None:
            import aiomysql  # pants: no-infer-dep

            conn = await aiomysql.connect(
                host=server.host,
                port=server.port,
                user=server.user or "root",
                password=server.password or "",
                autocommit=True,
                connect_timeout=10,
            )
            try:
                async with conn.cursor() as cursor:
                    for statement in filter(None, (part.strip() for part in sql.split(";"))):
                        await cursor.execute(statement)
            finally:
                conn.close()

        with warnings.catch_warnings():
            # aiomysql reports server notes ("database does not exist") as warnings.
            warnings.simplefilter("ignore")
            run_coroutine(run)
        return
    client = _client()
    if client is None:
        raise ServiceUnavailable("no mariadb/mysql client on PATH")
    args = [client, "--protocol=TCP", "-h", server.host, "-P", str(server.port), "-u", server.user or "root"]
    result = subprocess.run(  # - arguments are not shell-interpreted
        [*args, "--connect-timeout=10", "-e", sql],  # noqa: S603
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MYSQL_PWD": server.password or ""},
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{client} failed ({result.returncode}): {result.stderr.strip()}")


@contextmanager
def fresh_database(server_url: str, *, driver: str | None = None) -> Iterator[str]:
    """Create a database ``t_<pid>_<hex>`` (utf8mb4) on the server of ``server_url``.

    Yields its ``mysql://`` URL; drops it on exit (waiting at most 10 s for locks held by leftover
    connections).

    Args:
        server_url: Any ``mysql://`` (or ``mysql+driver://``, ``mariadb://``) URL of the server.
        driver: ``"aiomysql"`` or ``"cli"``; chosen by :func:`admin_driver` when None.

    Raises:
        ServiceUnavailable: When there is no way to run SQL.
    """
    server = ServerUrl.parse(server_url, scheme="mysql", default_port=3306, default_database="")
    driver = driver or admin_driver()
    name = database_name()
    execute(server, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4", driver=driver)
    try:
        yield server.with_database(name)
    finally:
        drop = f"SET SESSION lock_wait_timeout = 10; DROP DATABASE IF EXISTS `{name}`"
        execute(server, drop, driver=driver)


def _greets(port: int) -> bool:
    """Whether a MySQL server on ``port`` sends its handshake packet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            return len(sock.recv(16)) > 4
    except OSError:
        return False


def start_local_mariadb(stack: ExitStack) -> str:
    """The local step of MySQL discovery: ``mariadb-install-db`` + ``mariadbd`` in a temporary directory."""
    install, server = shutil.which("mariadb-install-db"), shutil.which("mariadbd")
    if server is None and Path("/usr/sbin/mariadbd").exists():
        server = "/usr/sbin/mariadbd"  # often not on a normal user's PATH
    if install is None or server is None:
        raise ServiceUnavailable("no mariadb-install-db/mariadbd binaries on PATH")
    tmp = Path(tempfile.mkdtemp(prefix="mariadb-"))
    stack.callback(shutil.rmtree, tmp, True)
    data, log = tmp / "data", tmp / "mariadbd.log"
    account = ["--user=root"] if os.geteuid() == 0 else []
    init = subprocess.run(  # - a binary found on PATH, fixed arguments
        [install, "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal",  # noqa: S603
         "--skip-test-db", *account],
        capture_output=True, text=True, timeout=120, cwd=tmp, check=False,
    )  # fmt: skip
    if init.returncode != 0:
        raise ServiceUnavailable(f"mariadb-install-db failed: {(init.stderr or init.stdout).strip()[-500:]}")
    port = free_port()
    args = [
        server, "--no-defaults", f"--datadir={data}", f"--port={port}", "--bind-address=127.0.0.1",
        f"--socket={tmp / 'mysqld.sock'}", f"--pid-file={tmp / 'mysqld.pid'}", f"--log-error={log}",
        "--skip-name-resolve", "--innodb-flush-log-at-trx-commit=0", *account,
    ]  # fmt: skip
    process = subprocess.Popen(
        args,  # noqa: S603 - a binary found on PATH, fixed arguments
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        cwd=tmp,
    )
    stack.callback(terminate, process)
    wait_until(lambda: _greets(port), what="mariadbd", timeout=60, process=process, log=log)
    return f"mysql://root@127.0.0.1:{port}/"


def start_mysql_container(stack: ExitStack) -> str:  # pragma: no cover - needs Docker
    """The Docker step of MySQL discovery: a ``mariadb`` container for the whole test run."""
    try:
        from testcontainers.mysql import MySqlContainer  # pants: no-infer-dep
    except ImportError as exc:
        raise ServiceUnavailable(NO_TESTCONTAINERS) from exc
    container = MySqlContainer("mariadb:11", root_password="test", dbname="test")  # noqa: S106 - throwaway container
    try:
        container.start()
    except Exception as exc:
        raise ServiceUnavailable(f"the mariadb container did not start: {exc}") from exc
    stack.callback(container.stop)
    host, port = container.get_container_host_ip(), container.get_exposed_port(3306)
    return f"mysql://root:test@{host}:{port}/test"
