"""What the PostgreSQL and MySQL modules share: URL handling and running a coroutine to completion."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

__all__ = ["ServerUrl", "run_coroutine"]


@dataclass(frozen=True)
class ServerUrl:
    """The parts of a database URL that matter for creating a database."""

    scheme: str
    host: str
    port: int
    user: str | None
    password: str | None
    database: str
    query: str

    @classmethod
    def parse(cls, url: str, *, scheme: str, default_port: int, default_database: str) -> ServerUrl:
        """Parse ``url``; ``scheme`` replaces its own (``postgresql+asyncpg`` becomes ``postgresql``)."""
        parts = urlsplit(url)
        return cls(
            scheme=scheme,
            host=parts.hostname or "127.0.0.1",
            port=parts.port or default_port,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            database=unquote(parts.path.lstrip("/")) or default_database,
            query=parts.query,
        )

    def with_database(self, database: str) -> str:
        """The URL of ``database`` on the same server, as a string."""
        userinfo = ""
        if self.user is not None:
            userinfo = quote(self.user, safe="")
            if self.password is not None:
                userinfo += ":" + quote(self.password, safe="")
            userinfo += "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        netloc = f"{userinfo}{host}:{self.port}"
        return urlunsplit((self.scheme, netloc, "/" + quote(database), self.query, ""))


def run_coroutine(factory: Callable[[], Coroutine[Any, Any, None]], timeout: float = 60.0) -> None:
    """Run a coroutine to completion on a new event loop in a helper thread (safe inside a running loop).

    Raises:
        TimeoutError: When it takes longer than ``timeout`` seconds.
    """
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(factory())
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="internal-testing-sql", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"database administration did not finish within {timeout:g}s")
    if errors:
        raise errors[0]
