"""A tiny RESP2 client that reads whole replies (bulk strings and arrays), for cluster and sentinel checks."""

from __future__ import annotations

import socket
from typing import BinaryIO

__all__ = ["RespError", "RespReply", "info_field", "query", "query_or_none"]

RespReply = str | int | None | list["RespReply"]
"""A decoded reply: status and bulk strings as ``str``, integers, nil as None, arrays as lists."""


class RespError(ConnectionError):
    """Redis answered with an error reply (``-ERR ...``)."""


def _encode(args: tuple[str, ...]) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _read(stream: BinaryIO) -> RespReply:
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("Redis closed the connection")
    kind, body = line[:1], line[1:-2].decode(errors="replace")
    if kind == b"+":
        return body
    if kind == b"-":
        raise RespError(body)
    if kind == b":":
        return int(body)
    if kind == b"$":
        size = int(body)
        if size < 0:
            return None
        data = stream.read(size + 2)
        if len(data) != size + 2:
            raise ConnectionError("Redis closed the connection")
        return data[:-2].decode(errors="replace")
    if kind == b"*":
        count = int(body)
        return None if count < 0 else [_read(stream) for _ in range(count)]
    raise ConnectionError(f"unexpected RESP reply {line[:40]!r}")


def query(port: int, *args: str, host: str = "127.0.0.1", timeout: float = 2.0) -> RespReply:
    """Send one command to the Redis (or Sentinel) server at ``host:port`` and return its decoded reply.

    Raises:
        RespError: For an error reply.
        OSError: When the server cannot be reached or does not answer within ``timeout``.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(_encode(args))
        with sock.makefile("rb") as stream:
            return _read(stream)


def query_or_none(port: int, *args: str, host: str = "127.0.0.1", timeout: float = 2.0) -> RespReply:
    """Like :func:`query`, but None when the server is down, closes the connection or answers an error."""
    try:
        return query(port, *args, host=host, timeout=timeout)
    except OSError:  # RespError and ConnectionError are OSErrors too
        return None


def info_field(text: RespReply, field: str) -> str | None:
    """The value of ``field`` in an INFO / CLUSTER INFO reply (``field:value`` lines), or None."""
    if not isinstance(text, str):
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == field:
            return value.strip()
    return None
