from __future__ import annotations

import importlib.util
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

from internal_testing import MotoServer, ServiceUnavailable, fake_credentials
from internal_testing._aws import answers_http, start_moto_server

needs_moto = pytest.mark.skipif(importlib.util.find_spec("moto") is None, reason="moto is not installed")


def test_fake_credentials_do_not_depend_on_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "real-looking")
    assert fake_credentials() == {
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "region_name": "us-east-1",
    }


def test_aws_credentials_fixture(aws_credentials: dict[str, str]) -> None:
    assert aws_credentials["region_name"] == "us-east-1"


@needs_moto
def test_moto_server_starts_answers_and_stops() -> None:
    server = MotoServer()
    try:
        assert server.start() is server
        assert server.start() is server
        assert server.url.startswith("http://127.0.0.1:")
        assert answers_http(server.url + "/moto-api/")
    finally:
        server.stop()
    assert not answers_http(server.url + "/moto-api/", timeout=0.5)


@needs_moto
def test_the_local_aws_step_serves_s3() -> None:
    with ExitStack() as stack:
        url = start_moto_server(stack)
        assert answers_http(url + "/")
    assert not answers_http(url + "/", timeout=0.5)


def test_an_interpreter_without_moto_fails_clearly(tmp_path: Path) -> None:
    server = MotoServer(python=sys.executable.replace("python", "python-missing-moto"), startup_timeout=2)
    with pytest.raises(ServiceUnavailable, match="cannot run"):
        server.start()
    server.stop()


def test_a_moto_server_that_dies_reports_its_log(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'No module named moto' >&2\nexit 1\n")
    fake.chmod(0o755)
    server = MotoServer(python=str(fake), startup_timeout=5)
    with pytest.raises(ServiceUnavailable, match="moto server exited with status 1"):
        server.start()
    server.stop()


@needs_moto
def test_aws_endpoint_url_fixture(aws_endpoint_url: str) -> None:
    assert aws_endpoint_url.startswith("http")
    assert answers_http(aws_endpoint_url + "/")
