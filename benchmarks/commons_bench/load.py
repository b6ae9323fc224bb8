"""A bounded load run: 10, 100 and 500 concurrent clients against a small service, then recovery.

The clients wait ``Retry-After`` after a 503, as internal_http's retries (and well-behaved clients) do;
a last phase of 500 clients that retry at once shows the service under a flood.

The service (``commons_bench._load_app``: internal_fastapi + internal_rdbms with their default pool
and admission settings) runs under uvicorn in its own process; this process is the clients and a
readiness probe that calls ``/health/ready`` every 200 ms, as a load balancer would. With two cores
or more the service is pinned to the first and the clients to the rest, as if they ran on other
machines (clients on the service's core would measure how the clients starve it). What a service
team needs to hold at peak: only 200s and fast problem+json 503s (never a hang, a 500 or a reset),
readiness 200 throughout, and normal latency again seconds after the load stops.

    ./pants run benchmarks:load -- --output BENCHMARKS.md

PostgreSQL at ``COMMONS_BENCH_RDBMS_URL`` (else ``COMMONS_POSTGRES_URL``, else the local default).
Writes the section between the ``load_run`` markers of ``--output`` (or prints it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx  # pants: no-infer-dep

__all__ = ["Phase", "main", "render"]

BEGIN_MARKER = "<!-- BEGIN GENERATED: load_run -->"
END_MARKER = "<!-- END GENERATED: load_run -->"
_DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
_NO_BACK_OFF = " (no back-off)"


@dataclass
class Phase:
    """What the clients and the probe saw while ``clients`` requests were in flight."""

    clients: int
    backs_off: bool = True  # clients wait Retry-After seconds after a 503, as internal_http's retries do
    seconds: float = 0.0
    ok: list[float] = field(default_factory=list)
    unavailable: list[float] = field(default_factory=list)
    unavailable_not_problem: int = 0
    other: dict[str, int] = field(default_factory=dict)
    probes: list[tuple[int, float]] = field(default_factory=list)


def _p(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _ms(seconds: float) -> str:
    return "—" if seconds != seconds else f"{seconds * 1000:.0f} ms"


class _Connection:
    """One keep-alive HTTP/1.1 connection sending GETs: the cheapest client there is.

    httpx costs several times the service's own work per request, so 500 httpx clients saturate
    their core before the service's and the run measures the clients. The probe, the baseline and
    the recovery check (a few requests a second) use httpx.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, path: str) -> tuple[int, dict[str, str]]:
        """Status and headers (lower-case names) of ``GET path``; the body is read and dropped."""
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode("ascii"))
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)}
            await reader.readexactly(int(headers.get("content-length", "0")))
        except BaseException:
            self.close()
            raise
        if headers.get("connection", "").lower() == "close":
            self.close()
        return int(head[0].split()[1]), headers

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def _client(host: str, port: int, stop: asyncio.Event, phase: Phase) -> None:
    connection = _Connection(host, port)
    try:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                status, headers = await connection.get("/work")
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                phase.other[type(exc).__name__] = phase.other.get(type(exc).__name__, 0) + 1
                continue
            elapsed = time.perf_counter() - started
            if status == 200:
                phase.ok.append(elapsed)
            elif status == 503:
                phase.unavailable.append(elapsed)
                if not headers.get("content-type", "").startswith("application/problem+json"):
                    phase.unavailable_not_problem += 1
                if phase.backs_off:
                    await asyncio.sleep(float(headers.get("retry-after", "1")))
            else:
                phase.other[f"HTTP {status}"] = phase.other.get(f"HTTP {status}", 0) + 1
    finally:
        connection.close()


async def _probe(client: httpx.AsyncClient, stop: asyncio.Event, phase: Phase) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        try:
            status = (await client.get("/health/ready", timeout=2.0)).status_code
        except httpx.HTTPError:
            status = 0
        phase.probes.append((status, time.perf_counter() - started))
        await asyncio.sleep(0.2)


async def _run_phase(base_url: str, clients: int, seconds: float, *, backs_off: bool) -> Phase:
    phase = Phase(clients, backs_off)
    stop = asyncio.Event()
    url = httpx.URL(base_url)
    async with httpx.AsyncClient(base_url=base_url) as prober:
        started = time.perf_counter()
        tasks = [asyncio.create_task(_client(url.host, url.port or 80, stop, phase)) for _ in range(clients)]
        tasks.append(asyncio.create_task(_probe(prober, stop, phase)))
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*tasks)
        phase.seconds = time.perf_counter() - started
    return phase


async def _sequential_latency(base_url: str, count: int) -> list[float]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0) as client:
        latencies = []
        for _ in range(count):
            started = time.perf_counter()
            (await client.get("/work")).raise_for_status()
            latencies.append(time.perf_counter() - started)
        return latencies


async def _recovery(base_url: str, baseline: float, limit: float = 30.0) -> float:
    """Seconds after the load until 5 requests in a row are within 2x the baseline median (+10 ms)."""
    started = time.perf_counter()
    streak = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0) as client:
        while time.perf_counter() - started < limit:
            sent = time.perf_counter()
            response = await client.get("/work")
            good = response.status_code == 200 and time.perf_counter() - sent <= 2 * baseline + 0.01
            streak = streak + 1 if good else 0
            if streak == 5:
                return time.perf_counter() - started
    return float("inf")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_service(port: int, query_seconds: float) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(os.path.abspath(p) for p in sys.path if p),
        "COMMONS_RDBMS_URL": os.environ.get("COMMONS_BENCH_RDBMS_URL")
        or os.environ.get("COMMONS_POSTGRES_URL", _DEFAULT_URL),
        "COMMONS_LOAD_QUERY_SECONDS": str(query_seconds),
        "COMMONS_FASTAPI_LOG_REQUESTS": "false",
    }
    command = [sys.executable, "-m", "uvicorn", "commons_bench._load_app:app", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log"]
    return subprocess.Popen(command, env=env)  # noqa: S603 - our own interpreter and module


async def _wait_ready(base_url: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError(f"the load service exited with {process.returncode}")
            try:
                if (await client.get("/health/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the load service did not become ready in 30 s")


def _verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def _defaults() -> str:
    from internal_fastapi import FastAPISettings
    from internal_rdbms import RdbmsSettings

    pool = RdbmsSettings.model_fields
    limit = FastAPISettings.model_fields["max_concurrent_requests"].default
    return (
        f"internal_rdbms's default pool (size {pool['pool_size'].default}, overflow "
        f"{pool['max_overflow'].default}, {pool['pool_timeout'].default:g} s pool timeout) and "
        f"internal_fastapi's default admission limit ({limit} requests in flight)"
    )


def _split_cores() -> tuple[set[int], set[int]] | None:
    """The service's core and the clients' cores, when this machine has two or more."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) < 2:
        return None
    return {cores[0]}, set(cores[1:])


def render(
    phases: Sequence[Phase], baseline: float, recovery: float, query_seconds: float, cores: str
) -> str:
    """The markdown section: one row per phase and the verdicts."""
    rows = [
        "| clients | requests/s | 200 | 503 (problem+json) | other | p50 / p99 of 200s | p99 of 503s "
        "| readiness not 200 | readiness p99 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in phases:
        done = len(p.ok) + len(p.unavailable) + sum(p.other.values())
        bad_probes = sum(1 for status, _ in p.probes if status != 200)
        rows.append(
            f"| {p.clients}{_NO_BACK_OFF * (not p.backs_off)} | {done / p.seconds:.0f} | {len(p.ok)} | "
            f"{len(p.unavailable)}"
            f" ({len(p.unavailable) - p.unavailable_not_problem}) | "
            f"{', '.join(f'{k}: {v}' for k, v in p.other.items()) or '0'} | "
            f"{_ms(_p(p.ok, 0.5))} / {_ms(_p(p.ok, 0.99))} | {_ms(_p(p.unavailable, 0.99))} | "
            f"{bad_probes} of {len(p.probes)} | {_ms(_p([s for _, s in p.probes], 0.99))} |"
        )
    others = sum(sum(p.other.values()) + p.unavailable_not_problem for p in phases)
    bad_probes = sum(1 for p in phases for status, _ in p.probes if status != 200)
    slow_refusals = max((_p(p.unavailable, 0.99) for p in phases if p.unavailable), default=0.0)
    verdicts = [
        f"- 503s answered at once (p99 under 500 ms): **{_verdict(slow_refusals < 0.5)}** "
        f"(worst p99 {_ms(slow_refusals)})",
        f"- Only 200s and problem+json 503s: **{_verdict(others == 0)}** ({others} other answers)",
        f"- Readiness 200 throughout: **{_verdict(bad_probes == 0)}** ({bad_probes} probes not 200)",
        f"- Back to normal latency after the load: **{_verdict(recovery <= 10)}** "
        f"({recovery:.1f} s; baseline median {_ms(baseline)})",
    ]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return "\n".join(
        [
            BEGIN_MARKER,
            "",
            "```sh",
            "./pants run benchmarks:load -- --output BENCHMARKS.md",
            "```",
            "",
            f"- Run: {when}; {cores}; each request holds a pooled PostgreSQL connection for "
            f"{query_seconds * 1000:.0f} ms; {_defaults()}",
            "",
            *rows,
            "",
            *verdicts,
            "",
            END_MARKER,
        ]
    )


async def _run(phases: Sequence[tuple[int, bool]], seconds: float, query_seconds: float) -> str:
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = _start_service(port, query_seconds)
    split = _split_cores()
    if split is None:
        cores = f"{os.cpu_count()} core(s) shared by the service and the clients"
    else:
        os.sched_setaffinity(process.pid, split[0])
        os.sched_setaffinity(0, split[1])
        cores = f"the service on 1 core, the clients and the probe on {len(split[1])} other(s)"
    try:
        await _wait_ready(base_url, process)
        baseline = statistics.median(await _sequential_latency(base_url, 30))
        results = []
        for clients, backs_off in phases:
            print(f"load run: {clients} clients for {seconds:.0f} s", file=sys.stderr, flush=True)
            results.append(await _run_phase(base_url, clients, seconds, backs_off=backs_off))
        recovery = await _recovery(base_url, baseline)
        return render(results, baseline, recovery, query_seconds, cores)
    finally:
        process.terminate()
        process.wait(timeout=30)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the load run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clients",
        default="10,100,500,500!",
        help="comma-separated phases; N! = N clients that retry a 503 at once instead of after Retry-After",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--query-seconds", type=float, default=0.1, help="pg_sleep per request")
    parser.add_argument("--output", type=Path, help="markdown file whose load_run section is refreshed")
    args = parser.parse_args(argv)
    phases = [(int(n.rstrip("!")), not n.endswith("!")) for n in args.clients.split(",")]
    section = asyncio.run(_run(phases, args.seconds, args.query_seconds))
    if args.output is None:
        print(section)
        return 0
    existing = args.output.read_text() if args.output.exists() else ""
    start, end = existing.find(BEGIN_MARKER), existing.find(END_MARKER)
    if 0 <= start < end:
        updated = existing[:start] + section + existing[end + len(END_MARKER) :]
    else:
        updated = f"{existing.rstrip()}\n\n## Load run\n\n{section}\n"
    args.output.write_text(updated)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
