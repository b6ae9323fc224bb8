"""A service URL pointing at a closed port: one clear line per test, not a driver's traceback."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from internal_testing import _discovery
from internal_testing._discovery import ServiceSpec, find_service

# (fixture, variable, service name as the message spells it, URL template)
SERVICES = [
    ("redis_url", "COMMONS_REDIS_URL", "Redis", "redis://127.0.0.1:{port}/0"),
    (
        "postgres_url",
        "COMMONS_POSTGRES_URL",
        "PostgreSQL",
        "postgresql://postgres:s3cret@127.0.0.1:{port}/postgres",
    ),
    ("mysql_url", "COMMONS_MYSQL_URL", "MySQL/MariaDB", "mysql://root:s3cret@127.0.0.1:{port}/test"),
]

# This process's import path, made absolute at import: pytester runs tests in a temporary directory.
IMPORT_PATH = os.pathsep.join(os.path.abspath(entry) for entry in sys.path if entry)

# Three tests need the service: each gets its own line, and the probe runs once for all three.
DEPENDENT_TESTS = """
import pytest

@pytest.mark.parametrize("n", [1, 2, 3])
def test_needs_the_service({fixture}, n):
    assert {fixture}
"""


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def _probe_cache() -> Iterator[None]:
    _discovery._answers.cache_clear()
    yield
    _discovery._answers.cache_clear()


@pytest.mark.parametrize(("fixture", "env_var", "name", "template"), SERVICES)
@pytest.mark.parametrize("required", ["1", "0"])
def test_a_closed_port_gives_one_line_per_test(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    fixture: str,
    env_var: str,
    name: str,
    template: str,
    required: str,
) -> None:
    port = closed_port()
    monkeypatch.setenv(env_var, template.format(port=port))
    monkeypatch.setenv(_discovery.REQUIRE_SERVICES_ENV_VAR, required)
    pytester.makepyfile(DEPENDENT_TESTS.format(fixture=fixture))
    # The child pytest imports what this one does (under Pants sys.path is not in the environment);
    # no PYTEST_ADDOPTS from the outer run (JUnit reports, coverage) reaches it.
    monkeypatch.setenv("PYTHONPATH", IMPORT_PATH)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    # Summary lines uncut whatever the terminal (pytest cuts them to its width unless CI is set).
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest_subprocess(
        "-p", "internal_testing.plugin", "-p", "no:asyncio", "-p", "no:cacheprovider", "-rsE", "-q"
    )  # fmt: skip
    line = f"{name} at 127.0.0.1:{port} is not answering; check {env_var}"
    if required == "1":
        result.assert_outcomes(errors=3)
        # One summary line per test, each naming the service, the address and the variable.
        summary = [entry for entry in result.outlines if entry.startswith("ERROR ") and line in entry]
        assert len(summary) == 3, result.outlines
    else:
        result.assert_outcomes(skipped=3)
        result.stdout.fnmatch_lines([f"SKIPPED [[]3[]] *{line}"])
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    assert "s3cret" not in output
    # No driver got as far as trying to connect: the probe answered first.
    assert "ConnectionRefusedError" not in output
    assert "OSError" not in output
    assert len(result.outlines) < 30, result.outlines


@pytest.mark.usefixtures("_probe_cache")
def test_the_probe_runs_once_per_address(monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    monkeypatch.setenv("COMMONS_EXAMPLE_URL", f"example://127.0.0.1:{port}")
    monkeypatch.delenv(_discovery.REQUIRE_SERVICES_ENV_VAR, raising=False)
    spec = ServiceSpec("Example", "COMMONS_EXAMPLE_URL")
    for _ in range(3):
        with ExitStack() as stack, pytest.raises(pytest.skip.Exception, match=f"127.0.0.1:{port} is not"):
            find_service(spec, stack)
    assert _discovery._answers.cache_info().misses == 1
    assert _discovery._answers.cache_info().hits == 2


@pytest.mark.usefixtures("_probe_cache")
def test_an_answering_url_is_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        monkeypatch.setenv("COMMONS_EXAMPLE_URL", f"example://127.0.0.1:{port}/x")
        with ExitStack() as stack:
            found = find_service(ServiceSpec("Example", "COMMONS_EXAMPLE_URL"), stack)
    assert found == f"example://127.0.0.1:{port}/x"


@pytest.mark.usefixtures("_probe_cache")
def test_the_default_port_of_the_spec_is_probed(monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    monkeypatch.setenv("COMMONS_EXAMPLE_URL", "example://127.0.0.1/0")
    monkeypatch.setenv(_discovery.REQUIRE_SERVICES_ENV_VAR, "1")
    spec = ServiceSpec("Example", "COMMONS_EXAMPLE_URL", default_port=port)
    with ExitStack() as stack, pytest.raises(pytest.fail.Exception) as info:
        find_service(spec, stack)
    assert f"Example at 127.0.0.1:{port} is not answering; check COMMONS_EXAMPLE_URL" in str(info.value)


@pytest.mark.usefixtures("_probe_cache")
def test_an_http_url_is_probed_at_the_port_of_its_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_discovery.REQUIRE_SERVICES_ENV_VAR, "1")
    # An unresolvable name (.invalid is reserved) reads like a closed port; https means port 443.
    with pytest.raises(pytest.fail.Exception) as info:
        _discovery.probe_url(
            ServiceSpec("Example", "COMMONS_EXAMPLE_URL"), "https://u:s3cret@nothing.invalid/p"
        )
    message = str(info.value)
    assert "Example at nothing.invalid:443 is not answering; check COMMONS_EXAMPLE_URL" in message
    assert "s3cret" not in message


@pytest.mark.usefixtures("_probe_cache")
def test_an_ipv6_address_is_bracketed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_discovery.REQUIRE_SERVICES_ENV_VAR, raising=False)
    with socket.socket(socket.AF_INET6) as sock:
        sock.bind(("::1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(pytest.skip.Exception, match=rf"Example at \[::1\]:{port} is not answering"):
        _discovery.probe_url(ServiceSpec("Example", "COMMONS_EXAMPLE_URL"), f"example://[::1]:{port}/")
