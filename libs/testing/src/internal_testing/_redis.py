"""Redis: dedicated ``redis-server`` processes and a tiny RESP client (no redis-py needed)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from internal_testing._discovery import NO_TESTCONTAINERS, ServiceUnavailable
from internal_testing._process import free_port, terminate, wait_until

__all__ = ["LocalRedisServer", "delete_keys", "redis_command", "start_local_redis"]

_DELETE_BY_PATTERN = (
    "local n = 0 "
    "for _, key in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', key) n = n + 1 end "
    "return n"
)


def _encode(*args: str | bytes) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _read_reply(stream: BinaryIO) -> bytes:
    """Read one simple reply line (status, error, integer or the header of a bulk string)."""
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("Redis closed the connection")
    if line.startswith(b"-"):
        raise ConnectionError(f"Redis error: {line[1:].strip().decode(errors='replace')}")
    return line.strip()


def redis_command(url: str, *commands: tuple[str, ...], timeout: float = 2.0) -> list[bytes]:
    """Send commands to the Redis server at ``url`` over a raw socket (``redis://`` URLs only).

    AUTH and SELECT are sent first when the URL carries a password or a database number. Only the first
    line of each reply is returned (enough for status, integer and error replies).

    Raises:
        ConnectionError: On a refused connection, a closed socket or an error reply.
        ValueError: For URLs other than ``redis://``.
    """
    parts = urlsplit(url)
    if parts.scheme != "redis":
        raise ValueError(f"only redis:// URLs are supported here, not {parts.scheme}://")
    preamble: list[tuple[str, ...]] = []
    if parts.password is not None:
        user = unquote(parts.username) if parts.username else "default"
        preamble.append(("AUTH", user, unquote(parts.password)))
    database = parts.path.strip("/")
    if database and database != "0":
        preamble.append(("SELECT", database))
    host = parts.hostname or "127.0.0.1"
    with socket.create_connection((host, parts.port or 6379), timeout=timeout) as sock:
        sock.sendall(b"".join(_encode(*command) for command in [*preamble, *commands]))
        with sock.makefile("rb") as stream:
            replies = [_read_reply(stream) for _ in range(len(preamble) + len(commands))]
    return replies[len(preamble) :]


def ping(url: str, timeout: float = 0.5) -> bool:
    """Whether the Redis server at ``url`` answers PING with PONG."""
    try:
        return redis_command(url, ("PING",), timeout=timeout) == [b"+PONG"]
    except (OSError, ConnectionError):
        return False


def answers(url: str, timeout: float = 0.5) -> bool:
    """Whether a Redis server at ``url`` replies to PING at all (an auth error counts: it is up)."""
    try:
        (reply,) = redis_command(url, ("PING",), timeout=timeout)
    except ConnectionError as exc:
        return "LOADING" not in str(exc) and "Redis error" in str(exc)
    except OSError:
        return False
    return reply == b"+PONG"


def delete_keys(url: str, prefix: str) -> int:
    """Delete every key starting with ``prefix``; returns how many (always 0 for non-``redis://`` URLs)."""
    if not url.startswith("redis://") or not prefix:
        return 0
    pattern = "".join(f"\\{ch}" if ch in "*?[]\\" else ch for ch in prefix) + "*"
    (reply,) = redis_command(url, ("EVAL", _DELETE_BY_PATTERN, "0", pattern), timeout=10.0)
    return int(reply.lstrip(b":"))


class LocalRedisServer:
    """A dedicated ``redis-server`` process on 127.0.0.1, in its own temporary directory.

    The port is chosen once and kept across restarts, so clients can reconnect to the same URL.
    Persistence is off (``--save "" --appendonly no``): a restart starts empty.

    Example:
        >>> with LocalRedisServer() as server:  # doctest: +SKIP
        ...     client = redis.Redis.from_url(server.url)
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        binary: str | None = None,
        directory: Path | None = None,
        startup_timeout: float = 10.0,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        """Prepare (but do not start) a server.

        Args:
            port: TCP port; a free one is picked when None.
            binary: Path of ``redis-server``; looked up on PATH when None.
            directory: Working directory; a new temporary one (removed at stop) when None.
            startup_timeout: Seconds to wait for PING to succeed before giving up.
            extra_args: More command-line options for ``redis-server``.

        Raises:
            ServiceUnavailable: When there is no ``redis-server`` binary.
        """
        found = binary or shutil.which("redis-server")
        if found is None:
            raise ServiceUnavailable("no redis-server binary on PATH")
        self._binary = found
        self._fixed_port = port is not None
        self._port = port if port is not None else free_port()
        self._directory = directory
        self._own_directory: Path | None = None
        self._startup_timeout = startup_timeout
        self._extra_args = extra_args
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        """The TCP port."""
        return self._port

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self._port}/0"

    @property
    def pid(self) -> int | None:
        """The process id while the process exists."""
        return self._process.pid if self.running else None  # type: ignore[union-attr]

    @property
    def running(self) -> bool:
        """Whether the server process is alive (it may be paused)."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> LocalRedisServer:
        """Start the server and wait until it answers PING; a no-op when it is running.

        Raises:
            ServiceUnavailable: When it exits or does not answer within ``startup_timeout``.
        """
        if self.running:
            return self
        attempts = 1 if self._fixed_port else 3
        for attempt in range(1, attempts + 1):
            try:
                self._spawn()
                return self
            except ServiceUnavailable:
                exited = self._process is not None and self._process.poll() is not None
                self._discard()
                if attempt == attempts or not exited:
                    self._remove_directory()
                    raise
                self._port = free_port()  # another process took the port in the meantime
        raise AssertionError("unreachable")  # pragma: no cover

    def _spawn(self) -> None:
        if self._directory is None and self._own_directory is None:
            self._own_directory = Path(tempfile.mkdtemp(prefix="redis-"))
        workdir = self._directory or self._own_directory
        assert workdir is not None
        log = workdir / "redis.log"
        args = [
            self._binary,
            "--port", str(self._port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(workdir),
            "--logfile", str(log),
            *self._extra_args,
        ]  # fmt: skip
        self._process = subprocess.Popen(
            args,  # noqa: S603 - a binary found on PATH, fixed arguments
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        wait_until(
            lambda: answers(self.url),
            what=f"redis-server on port {self._port}",
            timeout=self._startup_timeout,
            process=self._process,
            log=log,
        )

    def _discard(self) -> None:
        if self._process is not None:
            terminate(self._process, sig=signal.SIGKILL)
            self._process = None

    def stop(self) -> None:
        """Stop the server (SIGTERM, SIGKILL after 10 s); a no-op when it is not running."""
        if self._process is not None:
            terminate(self._process)
            self._process = None

    def kill(self) -> None:
        """Kill the server abruptly with SIGKILL (simulates a crash)."""
        self._discard()

    def pause(self) -> None:
        """Freeze the server with SIGSTOP: connections stay open but nothing answers (simulates a hang)."""
        if self._process is not None and self.running:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Undo :meth:`pause` (SIGCONT)."""
        if self._process is not None and self.running:
            self._process.send_signal(signal.SIGCONT)

    def restart(self) -> LocalRedisServer:
        """Stop and start again on the same port (the data is gone)."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the server and remove its temporary directory."""
        self.stop()
        self._remove_directory()

    def _remove_directory(self) -> None:
        if self._own_directory is not None:
            shutil.rmtree(self._own_directory, ignore_errors=True)
            self._own_directory = None

    def __enter__(self) -> LocalRedisServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LocalRedisServer(port={self._port}, running={self.running})"


def start_local_redis(stack: ExitStack) -> str:
    """The local step of Redis discovery: a ``redis-server`` for the whole test run."""
    server = LocalRedisServer()
    stack.callback(server.close)
    return server.start().url


def start_redis_container(stack: ExitStack) -> str:  # pragma: no cover - needs Docker
    """The Docker step of Redis discovery: a ``redis`` container for the whole test run."""
    try:
        from testcontainers.redis import RedisContainer  # pants: no-infer-dep
    except ImportError as exc:
        raise ServiceUnavailable(NO_TESTCONTAINERS) from exc
    container = RedisContainer("redis:7-alpine")
    try:
        container.start()
    except Exception as exc:
        raise ServiceUnavailable(f"the redis container did not start: {exc}") from exc
    stack.callback(container.stop)
    return f"redis://{container.get_container_host_ip()}:{container.get_exposed_port(6379)}/0"
