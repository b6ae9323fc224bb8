"""A fault-injecting reverse proxy for an AWS-protocol endpoint (moto, LocalStack), on loopback.

moto never throttles and never loses a receipt handle, so the retry and failure paths of a client
would never run against it. This proxy sits between the client and the real server, forwards every
request and makes chosen operations fail the way AWS does, for real:

* ``unprocessed_fraction``: of each DynamoDB ``BatchWriteItem`` (``BatchGetItem``) request, this
  fraction of the items (keys), rounded down, is held back and returned as ``UnprocessedItems``
  (``UnprocessedKeys``); only the others are forwarded, so an item reported unprocessed was never
  written (a key reported unprocessed was never read).
* ``fail_next``: operation name → how many of its next calls get an error without reaching the
  server: ``failure`` (default HTTP 500 ``InternalFailure``, an outage; ``(403, "AccessDenied")``
  for revoked credentials). botocore's own retries use these up too.
* ``corrupt_receipt_handles``: for these SQS operations (``"DeleteMessage"``,
  ``"ChangeMessageVisibility"``, their ``Batch`` forms) the receipt handles are replaced by invalid
  ones before forwarding, so the server itself rejects the call (``ReceiptHandleIsInvalid``).

Only the JSON protocols (``X-Amz-Target``) are understood, which is what botocore speaks to
DynamoDB and SQS; everything else passes through unchanged. Standard library only: the proxy runs
its own event loop in a daemon thread, so sync and async tests can use it alike.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import threading
import zlib
from collections import Counter
from types import TracebackType
from typing import Any, Final
from urllib.parse import urlsplit

from internal_testing._discovery import ServiceUnavailable

__all__ = ["AwsProxy"]

_HOP_BY_HOP: Final = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}
)
_UNPROCESSED: Final = {"BatchWriteItem": "UnprocessedItems", "BatchGetItem": "UnprocessedKeys"}
_RECEIPT_OPERATIONS: Final = frozenset(
    {"DeleteMessage", "DeleteMessageBatch", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch"}
)

Headers = list[tuple[str, str]]


def _header(headers: Headers, name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in headers if key.lower() == lowered), None)


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, Headers] | None:
    """The start line and the headers of one HTTP message (None at end of stream)."""
    start = await reader.readline()
    if not start.strip():
        return None
    headers: Headers = []
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    return start.decode("latin-1").rstrip("\r\n"), headers


async def _read_body(reader: asyncio.StreamReader, headers: Headers, *, to_eof: bool) -> bytes:
    """The body after ``headers``: by Content-Length, chunked, or (responses) up to end of stream."""
    length = _header(headers, "Content-Length")
    if length is not None:
        return await reader.readexactly(int(length))
    if (_header(headers, "Transfer-Encoding") or "").lower() == "chunked":
        body = bytearray()
        while size := int((await reader.readline()).split(b";")[0], 16):
            body += await reader.readexactly(size)
            await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return bytes(body)
    return await reader.read() if to_eof else b""


class AwsProxy:
    """A reverse proxy on ``127.0.0.1:<free port>`` in front of ``upstream`` (see the module docstring).

    Set the fault attributes at any time; they apply to the requests that follow.

    Attributes:
        unprocessed_fraction: Fraction (0-1) of each batch write's items or batch get's keys held back.
        corrupt_receipt_handles: SQS operations whose receipt handles are made invalid.
        fail_next: Operation → number of its next calls answered with ``failure`` (not forwarded).
        failure: ``(HTTP status, AWS error code)`` of those answers.
        operations: How often each operation (``X-Amz-Target`` suffix) was forwarded or answered.
        held_back: How many batch items or keys were reported unprocessed so far.
        forwarded_writes: How many batch-write items were forwarded (and so written) so far.

    Example::

        with AwsProxy(moto_url) as proxy:
            proxy.unprocessed_fraction = 0.5
            ...  # point the client's endpoint_url at proxy.url
    """

    def __init__(self, upstream: str, *, startup_timeout: float = 10.0) -> None:
        """Prepare (but do not start) a proxy forwarding to ``upstream`` (``http://host:port``)."""
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"AwsProxy forwards to plain http://host:port endpoints, not {upstream!r}")
        self._upstream = (parts.hostname, parts.port or 80)
        self._startup_timeout = startup_timeout
        self.unprocessed_fraction = 0.0
        self.corrupt_receipt_handles: set[str] = set()
        self.fail_next: Counter[str] = Counter()
        self.failure: tuple[int, str] = (500, "InternalFailure")
        self.operations: Counter[str] = Counter()
        self.held_back = 0
        self.forwarded_writes = 0
        self._lock = threading.Lock()
        self._port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``; use it as the client's ``endpoint_url``."""
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> AwsProxy:
        """Start serving in a daemon thread and wait until the socket listens.

        Raises:
            ServiceUnavailable: The proxy did not start within ``startup_timeout``.
        """
        if self._thread is not None:
            return self
        # IPPROTO_TCP explicitly: asyncio enables TCP_NODELAY only then (else ~40 ms per response).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        ready = threading.Event()
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            self._server = loop.run_until_complete(asyncio.start_server(self._serve, sock=sock))
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"aws-proxy-{self._port}", daemon=True)
        self._thread.start()
        if not ready.wait(self._startup_timeout):
            self.stop()
            raise ServiceUnavailable(f"the AWS proxy on port {self._port} did not start")
        return self

    def stop(self) -> None:
        """Close the listening socket and every connection, then end the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        if thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=5)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
        self._loop = self._thread = self._server = None

    def __enter__(self) -> AwsProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- serving -------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (head := await _read_head(reader)) is not None:
                start, headers = head
                body = await _read_body(reader, headers, to_eof=False)
                method = start.split(" ", 1)[0]
                status, response_headers, response_body = await self._exchange(start, headers, body)
                writer.write(f"HTTP/1.1 {status}\r\n".encode("latin-1"))
                for name, value in response_headers:
                    writer.write(f"{name}: {value}\r\n".encode("latin-1"))
                if method != "HEAD":  # HEAD keeps the upstream Content-Length and sends no body
                    writer.write(f"Content-Length: {len(response_body)}\r\n".encode("latin-1"))
                writer.write(b"\r\n")
                if method != "HEAD":
                    writer.write(response_body)
                await writer.drain()
                if (_header(headers, "Connection") or "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError, ValueError):
            pass
        finally:
            writer.close()

    async def _exchange(self, start: str, headers: Headers, body: bytes) -> tuple[str, Headers, bytes]:
        """Apply the faults to one request, forward it if needed, and return the response to send."""
        operation = (_header(headers, "X-Amz-Target") or "").rpartition(".")[2]
        if operation:
            with self._lock:
                self.operations[operation] += 1
        with self._lock:
            failing = self.fail_next[operation] > 0
            if failing:
                self.fail_next[operation] -= 1
        if failing:
            code, name = self.failure
            _, error_headers, error_body = self._json_response(
                {"__type": name, "message": "injected by AwsProxy"}
            )
            return f"{code} {name}", error_headers, error_body
        held: dict[str, Any] = {}
        if operation in _UNPROCESSED:
            if self.unprocessed_fraction > 0:
                body, held = self._hold_back(operation, body)
            remaining = json.loads(body)["RequestItems"]
            if operation == "BatchWriteItem":
                with self._lock:
                    self.forwarded_writes += sum(len(requests) for requests in remaining.values())
            if not remaining:
                answer: dict[str, Any] = {_UNPROCESSED[operation]: held}
                if operation == "BatchGetItem":
                    answer["Responses"] = {}
                return self._json_response(answer)
        elif operation in _RECEIPT_OPERATIONS and operation in self.corrupt_receipt_handles:
            body = self._corrupt(body)
        status, response_headers, response_body = await self._forward(start, headers, body)
        if held and status.startswith("200"):
            document = json.loads(response_body)
            unprocessed = document.setdefault(_UNPROCESSED[operation], {})
            for table, part in held.items():
                if operation == "BatchWriteItem":
                    unprocessed.setdefault(table, []).extend(part)
                else:
                    unprocessed.setdefault(table, {**part, "Keys": []})["Keys"].extend(part["Keys"])
            return self._json_response(document)
        return status, response_headers, response_body

    def _hold_back(self, operation: str, body: bytes) -> tuple[bytes, dict[str, Any]]:
        """Take the last ``unprocessed_fraction`` of each table's requests (writes) or keys (gets) out."""
        document = json.loads(body)
        items = document["RequestItems"]
        writes = operation == "BatchWriteItem"
        held: dict[str, Any] = {}
        for table, value in list(items.items()):
            requests = value if writes else value["Keys"]
            count = math.floor(len(requests) * min(self.unprocessed_fraction, 1.0))
            if not count:
                continue
            kept, back = requests[: len(requests) - count], requests[len(requests) - count :]
            held[table] = back if writes else {**value, "Keys": back}
            if kept:
                items[table] = kept if writes else {**value, "Keys": kept}
            else:
                del items[table]
            with self._lock:
                self.held_back += count
        return json.dumps(document).encode(), held

    @staticmethod
    def _corrupt(body: bytes) -> bytes:
        document = json.loads(body)
        for entry in [document, *document.get("Entries", [])]:
            if "ReceiptHandle" in entry:
                entry["ReceiptHandle"] = "invalid-" + str(entry["ReceiptHandle"])[::-1]
        return json.dumps(document).encode()

    @staticmethod
    def _json_response(document: dict[str, Any]) -> tuple[str, Headers, bytes]:
        payload = json.dumps(document).encode()
        # DynamoDB clients check this checksum of the body.
        headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amz-crc32", str(zlib.crc32(payload)))]
        return "200 OK", headers, payload

    async def _forward(self, start: str, headers: Headers, body: bytes) -> tuple[str, Headers, bytes]:
        """Send one request upstream on a fresh connection and read the whole response."""
        reader, writer = await asyncio.open_connection(*self._upstream)
        try:
            out = [start, *(f"{k}: {v}" for k, v in headers if k.lower() not in _HOP_BY_HOP)]
            out += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
            writer.write("\r\n".join(out).encode("latin-1") + body)
            await writer.drain()
            head = await _read_head(reader)
            if head is None:
                raise ConnectionError("the upstream server closed the connection without a response")
            status_line, response_headers = head
            status = status_line.split(" ", 1)[1]
            bodiless = start.startswith("HEAD ") or status[:3] in {"204", "304"}
            response_body = b"" if bodiless else await _read_body(reader, response_headers, to_eof=True)
        finally:
            writer.close()
        kept = [(k, v) for k, v in response_headers if k.lower() not in _HOP_BY_HOP]
        if start.startswith("HEAD ") and (length := _header(response_headers, "Content-Length")) is not None:
            kept.append(("Content-Length", length))
        return status, kept, response_body
