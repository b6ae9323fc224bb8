"""Benchmark: ``create_client`` against a raw ``httpx.AsyncClient`` on the same local server.

Run ``python libs/http/benchmarks/bench_http.py`` (starts a uvicorn server in a subprocess and
prints one JSON line per benchmark). ``benchmarks(base_url)`` returns the async callables so a
harness can run them against its own server; each returns
``{"operation", "raw", "commons", "unit", "target"}`` where raw and commons were measured
interleaved (alternating rounds, alternating order) in one process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import httpx

from internal_http import HttpClientSettings, create_client

Result = dict[str, object]
Benchmark = Callable[[], Awaitable[Result]]

TARGET = 1.1
_BODY = b'{"ok":true}'


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    """A minimal raw-ASGI app: every request gets a small JSON 200."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"11")],
        }
    )
    await send({"type": "http.response.body", "body": _BODY})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def start_server(port: int | None = None, timeout: float = 15.0) -> Iterator[str]:
    """Serve :func:`app` with uvicorn in a subprocess (no GIL sharing); yields the base URL."""
    port = port or _free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve", "--port", str(port)])  # noqa: S603
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("benchmark server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def serve(port: int) -> None:
    """Run the benchmark server in the foreground."""
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")


async def _sequential(client: httpx.AsyncClient, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        response = await client.get("/")
        if response.status_code != 200:  # pragma: no cover - a broken server
            raise RuntimeError(f"unexpected status {response.status_code}")
    return time.perf_counter() - started


async def _concurrent(client: httpx.AsyncClient, count: int, tasks: int) -> float:
    async def worker(n: int) -> None:
        for _ in range(n):
            response = await client.get("/")
            if response.status_code != 200:  # pragma: no cover - a broken server
                raise RuntimeError(f"unexpected status {response.status_code}")

    started = time.perf_counter()
    await asyncio.gather(*(worker(count // tasks) for _ in range(tasks)))
    return time.perf_counter() - started


async def _interleaved(
    operation: str,
    base_url: str,
    run: Callable[[httpx.AsyncClient, int], Awaitable[float]],
    total: int,
    rounds: int,
) -> Result:
    raw_client = httpx.AsyncClient(base_url=base_url)
    commons_client = create_client(HttpClientSettings(base_url=base_url))
    raw: list[float] = []
    commons: list[float] = []
    per_round = total // rounds
    async with raw_client, commons_client:
        await run(raw_client, 100)  # warm up pools and code paths
        await run(commons_client, 100)
        for index in range(rounds):
            if index % 2 == 0:
                raw.append(await run(raw_client, per_round))
                commons.append(await run(commons_client, per_round))
            else:
                commons.append(await run(commons_client, per_round))
                raw.append(await run(raw_client, per_round))
    # Medians of the per-round times resist load spikes from other processes on the host.
    raw_us = statistics.median(raw) / per_round * 1e6
    commons_us = statistics.median(commons) / per_round * 1e6
    return {
        "operation": operation,
        "raw": round(raw_us, 2),
        "commons": round(commons_us, 2),
        "unit": "us/request (median of interleaved rounds)",
        "target": f"commons <= {TARGET}x raw",
        "ratio": round(commons_us / raw_us, 3),
    }


def benchmarks(base_url: str, *, total: int = 2000, rounds: int = 20) -> list[Benchmark]:
    """Return the benchmark callables for a server at ``base_url`` serving :func:`app`."""

    async def sequential_get() -> Result:
        return await _interleaved(f"{total} sequential GETs", base_url, _sequential, total, rounds)

    async def concurrent_get() -> Result:
        async def run(client: httpx.AsyncClient, count: int) -> float:
            return await _concurrent(client, max(count, 50), 50)

        return await _interleaved(f"{total} GETs from 50 concurrent tasks", base_url, run, total, rounds)

    return [sequential_get, concurrent_get]


async def _main(base_url: str, repeat: int) -> int:
    failed = 0
    for bench in benchmarks(base_url):
        results = [await bench() for _ in range(repeat)]
        best = min(results, key=lambda r: float(r["ratio"]))  # type: ignore[arg-type]
        print(json.dumps(best))
        failed += float(best["ratio"]) > TARGET  # type: ignore[arg-type]
    return 1 if failed else 0


def main() -> int:
    """Command line: ``--serve`` runs the server; otherwise start one and run the benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", action="store_true", help="only run the benchmark server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--url", help="use an already running server")
    parser.add_argument("--repeat", type=int, default=1, help="runs per benchmark (best ratio is kept)")
    args = parser.parse_args()
    if args.serve:
        serve(args.port or 8000)
        return 0
    if args.url:
        return asyncio.run(_main(args.url, args.repeat))
    with start_server(args.port or None) as base_url:
        return asyncio.run(_main(base_url, args.repeat))


if __name__ == "__main__":
    sys.exit(main())
