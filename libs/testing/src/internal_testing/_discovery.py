"""How every service fixture finds its service: env URL → Docker → local server → skip (or fail).

An explicit URL is probed once per test process (one TCP connection): a URL pointing at a closed port
fails or skips each dependent test with one line naming the service, the address and the variable,
instead of every test failing with a driver's traceback.
"""

from __future__ import annotations

import functools
import gc
import os
import socket
import warnings
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import urlsplit

import pytest

__all__ = [
    "NO_TESTCONTAINERS",
    "REQUIRE_SERVICES_ENV_VAR",
    "ServiceSpec",
    "ServiceUnavailable",
    "docker_engine_available",
    "find_service",
    "not_available",
    "probe_url",
    "services_required",
]

REQUIRE_SERVICES_ENV_VAR = "COMMONS_REQUIRE_SERVICES"
PROBE_TIMEOUT_S = 5.0
"""How long the probe of an explicit URL waits for the TCP handshake."""
_SCHEME_PORTS = {"http": 80, "https": 443}
NO_TESTCONTAINERS = "testcontainers is not installed (pip install 'internal-testing[docker]')"

Starter = Callable[[ExitStack], str]
"""Starts a service, registers its shutdown on the stack and returns its URL, or raises ServiceUnavailable."""


class ServiceUnavailable(RuntimeError):
    """A way of providing a service (a container, a local server, a driver) is not available here."""


@dataclass(frozen=True)
class ServiceSpec:
    """How to find one kind of service.

    Attributes:
        name: Human-readable service name, used in skip messages ("PostgreSQL").
        env_var: The variable holding an explicit URL ("COMMONS_POSTGRES_URL").
        docker: Starts the service with testcontainers (called only when a Docker engine answers).
        local: Starts a server for this test run from a binary on PATH.
        default_port: The port of a URL in ``env_var`` that names none (6379 for Redis); None: only the
            scheme's (80 for http, 443 for https), else the URL is not probed.
    """

    name: str
    env_var: str
    docker: Starter | None = None
    local: Starter | None = None
    default_port: int | None = None


def services_required() -> bool:
    """Whether ``COMMONS_REQUIRE_SERVICES`` makes a missing service fail tests instead of skipping them."""
    return os.environ.get(REQUIRE_SERVICES_ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


def _docker_socket_missing() -> bool:
    """Whether Docker would be reached through a unix socket that does not exist (so no engine answers)."""
    host = os.environ.get("DOCKER_HOST", "")
    if host and not host.startswith("unix://"):
        return False
    path = host.removeprefix("unix://") or "/var/run/docker.sock"
    return not os.path.exists(path)


@functools.cache
def docker_engine_available() -> bool:
    """Whether a Docker engine answers a ping (checked once per process, a few milliseconds)."""
    if _docker_socket_missing():
        return False
    with warnings.catch_warnings():
        # docker-py leaks the socket of a failed connection; collect it here, quietly.
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            return _ping_docker()
        finally:
            gc.collect()


def _ping_docker() -> bool:
    try:
        import docker  # pants: no-infer-dep

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no docker package, no engine, a refused connection: all mean "no Docker"
        return False


def find_service(
    spec: ServiceSpec,
    stack: ExitStack,
    *,
    docker_available: Callable[[], bool] = docker_engine_available,
) -> str:
    """Find a service in the documented order and return its URL.

    1. The URL in ``spec.env_var``, when set and not empty.
    2. A testcontainers container, when a Docker engine answers.
    3. A server started for this test run from a binary on PATH.
       It is probed first (:func:`probe_url`): a closed port skips or fails the test with one line.
    4. Otherwise skip the requesting test with a reason naming ``spec.env_var``; with
       ``COMMONS_REQUIRE_SERVICES=1`` fail it instead.

    Args:
        spec: What to look for.
        stack: Receives the shutdown of anything started; close it at the end of the session.
        docker_available: Decides whether to try Docker (injectable for tests).

    Returns:
        The service URL.
    """
    url = os.environ.get(spec.env_var, "").strip()
    if url:
        probe_url(spec, url)
        return url
    tried: list[str] = []
    steps: list[tuple[str, Starter | None, bool]] = [
        ("docker", spec.docker, True),
        ("local", spec.local, False),
    ]
    for label, starter, needs_docker in steps:
        if starter is None:
            tried.append(f"{label}: not supported")
            continue
        if needs_docker and not docker_available():
            tried.append(f"{label}: no Docker engine answers")
            continue
        try:
            return starter(stack)
        except ServiceUnavailable as exc:
            tried.append(f"{label}: {exc}")
    not_available(f"{spec.name} is not available; set {spec.env_var} to its URL ({'; '.join(tried)})")


def probe_url(spec: ServiceSpec, url: str) -> None:
    """Skip or fail the requesting test, in one line, when nothing answers at the host and port of ``url``.

    Each address is tried once per process (the answer is cached). A URL without a host (a unix socket)
    or without a known port is not probed. The line names only the host and port, never credentials.

    Args:
        spec: The service (its name and variable go into the message).
        url: The explicit URL from ``spec.env_var``.
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:  # a malformed port: the driver reports it in its own words
        return
    port = port or spec.default_port or _SCHEME_PORTS.get(parts.scheme)
    if not host or not port:
        return
    if not _answers(host, port):
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        not_available(f"{spec.name} at {address} is not answering; check {spec.env_var}")


@functools.cache
def _answers(host: str, port: int) -> bool:
    """Whether a TCP connection to ``host:port`` succeeds within PROBE_TIMEOUT_S (once per process)."""
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:  # refused, unreachable, unknown host, timed out
        return False


def not_available(message: str) -> NoReturn:
    """Skip the requesting test with ``message``, or fail it when ``COMMONS_REQUIRE_SERVICES`` is set."""
    if services_required():
        pytest.fail(f"{message} [{REQUIRE_SERVICES_ENV_VAR}=1 turns this skip into a failure]", pytrace=False)
    pytest.skip(message)
