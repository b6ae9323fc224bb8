"""The AWS-protocol endpoint: LocalStack in Docker, else moto's standalone server as a subprocess."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from internal_testing._discovery import NO_TESTCONTAINERS, ServiceUnavailable
from internal_testing._process import free_port, terminate, wait_until

__all__ = ["MotoServer", "fake_credentials", "start_localstack", "start_moto_server"]

REGION = "us-east-1"


def fake_credentials() -> dict[str, str]:
    """Fake credentials and region: keyword arguments for ``boto3.client`` / ``aioboto3.Session.client``."""
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": REGION}


def answers_http(url: str, timeout: float = 1.0) -> bool:
    """Whether an HTTP server answers at ``url`` (any status counts)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 - loopback URL built here
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


class MotoServer:
    """moto's standalone server (``python -m moto.server``) on a free loopback port.

    Raises:
        ServiceUnavailable: From :meth:`start`, when moto is not importable or does not answer in time.
    """

    def __init__(self, *, python: str = sys.executable, startup_timeout: float = 30.0) -> None:
        """Prepare (but do not start) a server run by the interpreter ``python``."""
        self._python = python
        self._startup_timeout = startup_timeout
        self._port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._directory: Path | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> MotoServer:
        """Start the server and wait until it answers HTTP."""
        if self._process is not None:
            return self
        if self._python == sys.executable and importlib.util.find_spec("moto") is None:
            raise ServiceUnavailable("moto is not installed (pip install 'moto[server]')")
        self._directory = Path(tempfile.mkdtemp(prefix="moto-"))
        log = self._directory / "moto.log"
        self._port = free_port()
        args = [self._python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self._port)]
        try:
            with log.open("wb") as out:
                self._process = subprocess.Popen(
                    args,  # noqa: S603 - our interpreter, fixed arguments
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self._directory,
                )
        except OSError as exc:
            self.stop()
            raise ServiceUnavailable(f"cannot run {self._python}: {exc}") from exc
        try:
            wait_until(
                lambda: answers_http(f"{self.url}/moto-api/"),
                what="moto server",
                timeout=self._startup_timeout,
                process=self._process,
                log=log,
            )
        except ServiceUnavailable:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        if self._process is not None:
            terminate(self._process)
            self._process = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None


def start_moto_server(stack: ExitStack) -> str:
    """The local step of AWS discovery: moto's standalone server for the whole test run."""
    server = MotoServer()
    stack.callback(server.stop)
    return server.start().url


def start_localstack(stack: ExitStack) -> str:  # pragma: no cover - needs Docker
    """The Docker step of AWS discovery: a LocalStack container with S3, DynamoDB and SQS."""
    try:
        from testcontainers.localstack import LocalStackContainer  # pants: no-infer-dep
    except ImportError as exc:
        raise ServiceUnavailable(NO_TESTCONTAINERS) from exc
    container = LocalStackContainer(image="localstack/localstack:3", region_name=REGION)
    container.with_services("s3", "dynamodb", "sqs")
    try:
        container.start()
    except Exception as exc:
        raise ServiceUnavailable(f"the localstack container did not start: {exc}") from exc
    stack.callback(container.stop)
    url: str = container.get_url()
    return url
