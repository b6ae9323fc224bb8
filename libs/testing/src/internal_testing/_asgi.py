"""A loopback HTTP server: uvicorn serving an ASGI app in a background thread."""

from __future__ import annotations

import importlib.util
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from internal_testing._discovery import ServiceUnavailable
from internal_testing._process import wait_until

__all__ = ["AsgiServer", "serve_asgi_app", "uvicorn_installed"]


def uvicorn_installed() -> bool:
    """Whether uvicorn can be imported (it is not a dependency of this plugin)."""
    return importlib.util.find_spec("uvicorn") is not None


class AsgiServer:
    """Serves an ASGI app with uvicorn on ``127.0.0.1:<free port>`` from a daemon thread.

    The listening socket is bound before the thread starts, so :attr:`url` is known and stable.
    """

    def __init__(
        self, app: Any, *, host: str = "127.0.0.1", startup_timeout: float = 10.0, **options: Any
    ) -> None:
        """Prepare (but do not start) a server.

        Args:
            app: The ASGI application.
            host: The address to listen on.
            startup_timeout: Seconds to wait for startup (including the app's lifespan startup).
            **options: More ``uvicorn.Config`` options (``lifespan="off"``, ``ws="none"``...).
        """
        self._app = app
        self._host = host
        self._startup_timeout = startup_timeout
        self._options: dict[str, Any] = {
            "log_config": None,
            "log_level": "warning",
            "timeout_graceful_shutdown": 2,
            **options,
        }
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._error: BaseException | None = None
        self._port = 0

    @property
    def port(self) -> int:
        """The TCP port (0 before :meth:`start`)."""
        return self._port

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:<port>``, without a trailing slash."""
        return f"http://{self._host}:{self._port}"

    def start(self) -> AsgiServer:
        """Start serving and wait until uvicorn reports it has started.

        Raises:
            ServiceUnavailable: When uvicorn is not installed, or the app does not start in time.
        """
        if self._thread is not None:
            return self
        if not uvicorn_installed():
            raise ServiceUnavailable("uvicorn is not installed; add it to the test dependencies")
        import uvicorn  # pants: no-infer-dep

        # IPPROTO_TCP explicitly: asyncio enables TCP_NODELAY only then (else ~40 ms per response).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, 0))
        self._socket = sock
        self._port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(self._app, **self._options))
        self._thread = threading.Thread(target=self._run, name=f"asgi-{self._port}", daemon=True)
        self._thread.start()
        thread = self._thread
        try:
            wait_until(
                lambda: bool(self._server.started) or not thread.is_alive(),
                what=f"ASGI server on port {self._port}",
                timeout=self._startup_timeout,
            )
        except ServiceUnavailable:
            self.stop()
            raise
        if not self._server.started:
            error = self._error
            self.stop()
            raise ServiceUnavailable(f"the ASGI app did not start (see the uvicorn log): {error!r}")
        return self

    def _run(self) -> None:
        assert self._socket is not None
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # reported by start()
            self._error = exc

    def stop(self) -> None:
        """Stop serving: graceful shutdown, then a forced exit when the thread lingers."""
        if self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=5)
        if self._thread.is_alive():  # pragma: no cover - only when the app blocks shutdown
            self._server.force_exit = True
            self._thread.join(timeout=5)
        self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> AsgiServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@contextmanager
def serve_asgi_app(app: Any, **options: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port for the duration of the ``with`` block; yields the base URL.

    Args:
        app: The ASGI application.
        **options: Passed to :class:`AsgiServer` (``startup_timeout``) and ``uvicorn.Config``.
    """
    with AsgiServer(app, **options) as server:
        yield server.url
