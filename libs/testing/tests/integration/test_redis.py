from __future__ import annotations

import os
import shutil
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from internal_testing import LocalRedisServer, ServiceUnavailable
from internal_testing._redis import delete_keys, ping, redis_command

# A child pytest must import what this process can: a Pants pex has it only on (relative) sys.path
# entries, resolved here at import time, before pytester changes the working directory.
CHILD_PYTHONPATH = os.pathsep.join(os.path.abspath(p) for p in sys.path if p)


def _set(url: str, key: str, value: str = "v") -> None:
    assert redis_command(url, ("SET", key, value)) == [b"+OK"]


def _exists(url: str, *keys: str) -> int:
    (reply,) = redis_command(url, ("EXISTS", *keys))
    return int(reply.lstrip(b":"))


def test_local_server_start_stop_restart() -> None:
    server = LocalRedisServer()
    # Compared as a tuple: asserting the properties one by one would make mypy narrow them for good.
    assert (server.running, server.pid) == (False, None)
    try:
        assert server.start() is server
        assert server.start() is server  # idempotent
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        assert ping(server.url)
        _set(server.url, "k")
        assert _exists(server.url, "k") == 1
        first_pid = server.pid
        server.restart()
        assert server.pid != first_pid
        assert ping(server.url)
        assert _exists(server.url, "k") == 0  # no persistence
        server.stop()
        assert not server.running
        assert not ping(server.url)
        server.stop()  # a no-op when stopped
    finally:
        server.close()


def test_kill_then_restart_on_the_same_port() -> None:
    with LocalRedisServer() as server:
        port = server.port
        server.kill()
        assert not server.running
        assert not ping(server.url)
        server.restart()
        assert server.port == port
        assert ping(server.url)


def test_pause_makes_the_server_hang_until_resumed() -> None:
    with LocalRedisServer() as server:
        server.pause()
        assert not ping(server.url, timeout=0.2)
        server.resume()
        assert ping(server.url)
    assert not server.running


def test_explicit_port_and_directory(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with LocalRedisServer(port=port, directory=tmp_path) as server:
        assert server.port == port
        assert ping(f"redis://127.0.0.1:{port}")
    assert (tmp_path / "redis.log").exists()
    assert "port=" in repr(server)


def test_a_taken_port_fails_with_the_log_instead_of_hanging() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        server = LocalRedisServer(port=port, startup_timeout=5)
        with pytest.raises(ServiceUnavailable, match=r"redis-server on port \d+ exited"):
            server.start()
        assert not server.running
        server.close()


def test_a_server_that_never_answers_times_out(tmp_path: Path) -> None:
    sleeper = tmp_path / "fake-redis-server"
    sleeper.write_text("#!/bin/sh\nexec sleep 30\n")
    sleeper.chmod(0o755)
    server = LocalRedisServer(binary=str(sleeper), startup_timeout=0.3, port=1)
    with pytest.raises(ServiceUnavailable, match=r"did not become ready within 0.3s"):
        server.start()
    assert not server.running


def test_a_missing_binary_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ServiceUnavailable, match="no redis-server binary"):
        LocalRedisServer()


def test_auth_select_and_prefix_deletion() -> None:
    with LocalRedisServer(extra_args=("--requirepass", "s3cret")) as server:
        url = f"redis://:s3cret@127.0.0.1:{server.port}/2"
        for key in ("t:1:ab:one", "t:1:ab:two", "t:1:abc", "other"):
            _set(url, key)
        assert delete_keys(url, "t:1:ab:") == 2
        assert _exists(url, "t:1:ab:one", "t:1:ab:two") == 0
        assert _exists(url, "t:1:abc", "other") == 2
        assert _exists(f"redis://default:s3cret@127.0.0.1:{server.port}/0", "other") == 0  # db 2 only
        with pytest.raises(ConnectionError, match="NOAUTH|Authentication"):
            redis_command(server.url, ("GET", "other"))


def test_delete_keys_escapes_glob_characters_and_ignores_other_schemes() -> None:
    assert delete_keys("rediss://example:6380/0", "t:") == 0
    assert delete_keys("redis://127.0.0.1:1/0", "") == 0
    with LocalRedisServer() as server:
        _set(server.url, "a*b:1")
        _set(server.url, "axb:1")
        assert delete_keys(server.url, "a*b:") == 1
        assert _exists(server.url, "axb:1") == 1


def test_redis_command_rejects_other_schemes_and_closed_servers() -> None:
    with pytest.raises(ValueError, match="only redis://"):
        redis_command("rediss://127.0.0.1:6379/0", ("PING",))
    with LocalRedisServer() as server:
        url = server.url
    with pytest.raises(OSError):
        redis_command(url, ("PING",))


def test_redis_url_fixture_answers(redis_url: str) -> None:
    assert redis_url.startswith(("redis://", "rediss://"))
    if redis_url.startswith("redis://"):
        assert ping(redis_url)


def test_redis_server_factory(redis_server_factory: Callable[..., LocalRedisServer]) -> None:
    first, second = redis_server_factory(), redis_server_factory()
    assert first.port != second.port
    assert ping(first.url)
    assert ping(second.url)
    first.kill()
    assert ping(second.url)


def test_redis_server_factory_skips_without_a_binary(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a redis-server binary the factory skips and names what is missing."""
    monkeypatch.delenv("COMMONS_REQUIRE_SERVICES", raising=False)
    monkeypatch.setenv("PYTHONPATH", CHILD_PYTHONPATH)
    pytester.makepyfile(
        """
        def test_factory(redis_server_factory):
            redis_server_factory(binary=None)
        """
    )
    pytester.makeconftest("import os\nos.environ['PATH'] = ''\n")
    result = pytester.runpytest_subprocess("-p", "internal_testing.plugin", "-p", "no:asyncio", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*redis_server_factory needs a redis-server binary*"])


def test_local_redis_step(monkeypatch: pytest.MonkeyPatch) -> None:
    from contextlib import ExitStack

    from internal_testing._redis import start_local_redis

    with ExitStack() as stack:
        url = start_local_redis(stack)
        assert ping(url)
    assert not ping(url)
    assert shutil.which("redis-server")
