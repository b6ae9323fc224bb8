from __future__ import annotations

from contextlib import ExitStack

import pytest

from internal_testing import _discovery
from internal_testing._discovery import ServiceSpec, ServiceUnavailable, find_service

ENV = "COMMONS_EXAMPLE_URL"


class Recorder:
    """Starters that record which discovery steps ran."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def docker(self, stack: ExitStack) -> str:
        self.calls.append("docker")
        return "example://docker"

    def local(self, stack: ExitStack) -> str:
        self.calls.append("local")
        return "example://local"

    def broken(self, stack: ExitStack) -> str:
        self.calls.append("broken")
        raise ServiceUnavailable("it broke")


@pytest.fixture()
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.delenv(_discovery.REQUIRE_SERVICES_ENV_VAR, raising=False)


@pytest.mark.usefixtures("_clean_env")
def test_the_environment_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, " example://explicit ")
    rec = Recorder()
    spec = ServiceSpec("Example", ENV, docker=rec.docker, local=rec.local)
    with ExitStack() as stack:
        assert find_service(spec, stack, docker_available=lambda: True) == "example://explicit"
    assert rec.calls == []


@pytest.mark.usefixtures("_clean_env")
def test_docker_comes_before_the_local_server() -> None:
    rec = Recorder()
    spec = ServiceSpec("Example", ENV, docker=rec.docker, local=rec.local)
    with ExitStack() as stack:
        assert find_service(spec, stack, docker_available=lambda: True) == "example://docker"
    assert rec.calls == ["docker"]


@pytest.mark.usefixtures("_clean_env")
def test_without_docker_the_local_server_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "")
    rec = Recorder()
    spec = ServiceSpec("Example", ENV, docker=rec.docker, local=rec.local)
    with ExitStack() as stack:
        assert find_service(spec, stack, docker_available=lambda: False) == "example://local"
    assert rec.calls == ["local"]


@pytest.mark.usefixtures("_clean_env")
def test_a_failing_container_falls_through_to_the_local_server() -> None:
    rec = Recorder()
    spec = ServiceSpec("Example", ENV, docker=rec.broken, local=rec.local)
    with ExitStack() as stack:
        assert find_service(spec, stack, docker_available=lambda: True) == "example://local"
    assert rec.calls == ["broken", "local"]


@pytest.mark.usefixtures("_clean_env")
def test_nothing_available_skips_naming_the_variable() -> None:
    rec = Recorder()
    spec = ServiceSpec("Example", ENV, docker=None, local=rec.broken)
    with ExitStack() as stack, pytest.raises(pytest.skip.Exception) as info:
        find_service(spec, stack, docker_available=lambda: True)
    message = str(info.value)
    assert f"set {ENV}" in message
    assert "docker: not supported" in message
    assert "local: it broke" in message


@pytest.mark.usefixtures("_clean_env")
def test_a_required_service_that_is_missing_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_discovery.REQUIRE_SERVICES_ENV_VAR, "1")
    rec = Recorder()
    spec = ServiceSpec("Example", ENV, docker=rec.docker, local=rec.broken)
    with ExitStack() as stack, pytest.raises(pytest.fail.Exception) as info:
        find_service(spec, stack, docker_available=lambda: False)
    assert ENV in str(info.value)
    assert "docker: no Docker engine answers" in str(info.value)
    assert rec.calls == ["broken"]


@pytest.mark.parametrize(("value", "required"), [("1", True), ("true", True), ("0", False), ("", False)])
def test_services_required_reads_the_switch(
    monkeypatch: pytest.MonkeyPatch, value: str, required: bool
) -> None:
    monkeypatch.setenv(_discovery.REQUIRE_SERVICES_ENV_VAR, value)
    assert _discovery.services_required() is required


def test_an_unreachable_docker_engine_is_reported_as_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    _discovery.docker_engine_available.cache_clear()
    try:
        assert _discovery.docker_engine_available() is False
    finally:
        _discovery.docker_engine_available.cache_clear()


PLUGIN_TEST = """
def test_needs_redis(redis_url):
    assert redis_url
"""


@pytest.mark.parametrize(("required", "outcome"), [("0", {"skipped": 1}), ("1", {"errors": 1})])
def test_the_plugin_skips_or_fails_a_missing_service(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, required: str, outcome: dict[str, int]
) -> None:
    monkeypatch.delenv("COMMONS_REDIS_URL", raising=False)
    monkeypatch.setenv("PATH", str(pytester.path))  # no redis-server to be found
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    monkeypatch.setenv(_discovery.REQUIRE_SERVICES_ENV_VAR, required)
    _discovery.docker_engine_available.cache_clear()
    pytester.makepyfile(PLUGIN_TEST)
    try:
        result = pytester.runpytest(
            "-p", "internal_testing.plugin", "-p", "no:asyncio", "-p", "no:cacheprovider", "-rsE"
        )
    finally:
        _discovery.docker_engine_available.cache_clear()
    result.assert_outcomes(**outcome)
    result.stdout.fnmatch_lines(["*Redis is not available; set COMMONS_REDIS_URL*"])
