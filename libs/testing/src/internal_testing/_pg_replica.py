"""PostgreSQL streaming replication: a primary and a ``pg_basebackup -R`` replica on loopback, or by URL."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from internal_testing._discovery import ServiceUnavailable
from internal_testing._postgres import _service_user
from internal_testing._process import free_port, terminate, wait_until

__all__ = ["PostgresReplica", "find_binary"]

_FAST = ("fsync=off", "full_page_writes=off", "synchronous_commit=off")


def find_binary(name: str) -> str:
    """``name`` from PATH, else from ``pg_config --bindir`` (Debian keeps initdb/postgres there).

    Raises:
        ServiceUnavailable: When it is in neither place.
    """
    found = shutil.which(name)
    if found is not None:
        return found
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        bindir = subprocess.run(
            [pg_config, "--bindir"],  # noqa: S603 - pg_config from PATH, fixed arguments
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout.strip()
        candidate = Path(bindir) / name
        if bindir and os.access(candidate, os.X_OK):
            return str(candidate)
    raise ServiceUnavailable(f"no {name} binary on PATH or in pg_config --bindir")


def _accepting(data: Path) -> bool:
    """Whether the postmaster accepts connections: ``ready`` (primary) or ``standby`` (hot standby)."""
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    return len(lines) >= 8 and lines[7].strip() in {"ready", "standby"}


class PostgresReplica:
    """A primary and a streaming hot-standby replica: started here (:meth:`start_local`) or given by URL.

    Only a pair started here can have its replica stopped and started (:meth:`stop_replica`).
    """

    def __init__(self, primary_url: str, replica_url: str, *, directory: Path | None = None) -> None:
        """Wrap a running pair; use :meth:`start_local` to start one.

        Args:
            primary_url: ``postgresql://`` URL of the primary.
            replica_url: ``postgresql://`` URL of the replica streaming from it.
            directory: The temporary directory of servers started here (removed by :meth:`close`).
        """
        self.primary_url = primary_url
        self.replica_url = replica_url
        self._directory = directory
        self._postgres = ""
        self._user: str | None = None
        self._replica_port = 0
        self._primary: subprocess.Popen[bytes] | None = None
        self._replica: subprocess.Popen[bytes] | None = None

    @classmethod
    def start_local(cls, *, startup_timeout: float = 120.0) -> PostgresReplica:
        """``initdb`` a primary, ``pg_basebackup -R`` a replica from it, start both on free loopback ports.

        As root, both run as the ``postgres`` account (PostgreSQL refuses to run as root).

        Raises:
            ServiceUnavailable: Without the PostgreSQL binaries, or when a step fails (with its output).
        """
        initdb, postgres, basebackup = (find_binary(n) for n in ("initdb", "postgres", "pg_basebackup"))
        account = _service_user()
        directory = Path(tempfile.mkdtemp(prefix="postgres-replica-"))
        if account is not None:
            os.chown(directory, account.pw_uid, account.pw_gid)
        primary_port, replica_port = free_port(), free_port()
        pair = cls(
            f"postgresql://postgres@127.0.0.1:{primary_port}/postgres",
            f"postgresql://postgres@127.0.0.1:{replica_port}/postgres",
            directory=directory,
        )
        pair._postgres = postgres
        pair._user = account.pw_name if account is not None else None
        pair._replica_port = replica_port
        try:
            primary_data = directory / "primary"
            init = [
                initdb,
                "-D",
                str(primary_data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
            pair._run(init, "initdb", startup_timeout)
            with (primary_data / "pg_hba.conf").open("a") as hba:
                hba.write("host replication all 127.0.0.1/32 trust\n")
            pair._primary = pair._start(primary_data, primary_port, startup_timeout, "wal_level=replica",
                                        "max_wal_senders=5")  # fmt: skip
            pair._run([basebackup, "-h", "127.0.0.1", "-p", str(primary_port), "-U", "postgres",
                       "-D", str(directory / "replica"), "-R", "--checkpoint=fast", "--no-sync"],
                      "pg_basebackup", startup_timeout)  # fmt: skip
            pair.start_replica(timeout=startup_timeout)
        except BaseException:
            pair.close()
            raise
        return pair

    @property
    def managed(self) -> bool:
        """Whether the servers were started here (and the replica can be stopped and started)."""
        return self._directory is not None and bool(self._postgres)

    def _run(self, args: list[str], what: str, timeout: float) -> None:
        assert self._directory is not None
        result = subprocess.run(
            args,  # noqa: S603 - PostgreSQL binaries found on PATH, fixed arguments
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self._directory,
            user=self._user,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceUnavailable(f"{what} failed: {result.stderr.strip()[-800:]}")

    def _start(self, data: Path, port: int, timeout: float, *settings: str) -> subprocess.Popen[bytes]:
        assert self._directory is not None
        log = data.with_suffix(".log")
        args = [
            self._postgres,
            "-D",
            str(data),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(self._directory),
        ]
        for setting in (*_FAST, *settings):
            args += ["-c", setting]
        with log.open("wb") as out:
            process = subprocess.Popen(
                args,  # noqa: S603 - a binary found on PATH, fixed arguments
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self._directory,
                user=self._user,
            )
        try:
            wait_until(
                lambda: _accepting(data),
                what=f"postgres on port {port}",
                timeout=timeout,
                process=process,
                log=log,
            )
        except BaseException:
            terminate(process, sig=signal.SIGKILL)
            raise
        return process

    def _control(self) -> Path:
        if not self.managed:
            raise RuntimeError(
                "this replica was given by COMMONS_POSTGRES_REPLICA_URL; it cannot be controlled"
            )
        assert self._directory is not None
        return self._directory

    @property
    def replica_running(self) -> bool:
        """Whether the replica's server process (started here) is alive."""
        return self._replica is not None and self._replica.poll() is None

    def stop_replica(self) -> None:
        """Stop the replica (fast shutdown); the primary keeps running. A no-op when it is stopped."""
        self._control()
        if self._replica is not None:
            terminate(self._replica, sig=signal.SIGINT)
            self._replica = None

    def start_replica(self, *, timeout: float = 120.0) -> None:
        """Start the replica again on the same port; it catches up from the primary. A no-op when running.

        Raises:
            ServiceUnavailable: When it does not accept connections within ``timeout`` seconds.
        """
        directory = self._control()
        if not self.replica_running:
            self._replica = self._start(directory / "replica", self._replica_port, timeout, "hot_standby=on")

    def close(self) -> None:
        """Stop both servers started here and remove their directory (nothing to do for a pair by URL)."""
        for process in (self._replica, self._primary):
            if process is not None:
                terminate(process, sig=signal.SIGINT)
        self._replica = self._primary = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def __enter__(self) -> PostgresReplica:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresReplica(managed={self.managed}, replica_running={self.replica_running})"
