"""Small helpers for server subprocesses: free ports, bounded waits, clean shutdown."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from internal_testing._discovery import ServiceUnavailable

__all__ = ["free_port", "log_tail", "port_open", "terminate", "wait_until"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file (empty when it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_until(
    ready: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
    interval: float = 0.02,
) -> None:
    """Poll ``ready`` until it returns True; never wait longer than ``timeout`` seconds.

    Raises:
        ServiceUnavailable: When ``process`` exits first or the time runs out (with the log tail).
    """
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return
        problem = ""
        if process is not None and process.poll() is not None:
            problem = f"{what} exited with status {process.returncode}"
        elif time.monotonic() >= deadline:
            problem = f"{what} did not become ready within {timeout:g}s"
        if problem:
            tail = log_tail(log) if log is not None else ""
            raise ServiceUnavailable(f"{problem}\n{tail}" if tail else problem)
        time.sleep(interval)
        interval = min(interval * 1.5, 0.25)


def terminate(process: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Send ``sig`` and wait for the process to exit; SIGKILL it when it does not within ``timeout``."""
    if process.poll() is None:
        try:
            process.send_signal(signal.SIGCONT)
            process.send_signal(sig)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
    else:
        process.wait()
