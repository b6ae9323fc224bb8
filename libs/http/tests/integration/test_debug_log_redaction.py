"""Integration: at DEBUG, no credential or secret response header reaches any log line.

One run uses every auth kind of internal_http against a real uvicorn server on loopback that
answers with secret-bearing headers (``set-cookie``, ``x-subject-token``, the ``authorization``
and ``x-api-key`` it received, echoed). Every record of the run (httpcore's header tuples,
httpx's request lines, internal_http's own lines with headers) is formatted by
``configure_logging(level="DEBUG")``, as JSON and as text, and searched for every secret.
"""

from __future__ import annotations

import base64
import io
import logging
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from internal_base.logging import configure_logging, shutdown_logging
from internal_http import ApiKeyAuth, BasicAuth, BearerAuth, HttpSettings, create_client

THIRD_PARTY_LOGGERS = ("httpcore", "httpx", "hpack", "h2", "botocore", "urllib3", "internal_http")


@dataclass
class Secrets:
    """Fresh secret values for one run (unique, so a hit cannot come from anything else)."""

    bearer: str = field(default_factory=lambda: f"bearer-{uuid.uuid4().hex}")
    provided: str = field(default_factory=lambda: f"provided-{uuid.uuid4().hex}")
    basic_password: str = field(default_factory=lambda: f"pw/{uuid.uuid4().hex}")
    header_key: str = field(default_factory=lambda: f"hk-{uuid.uuid4().hex}")
    query_key: str = field(default_factory=lambda: f"qk-{uuid.uuid4().hex}")
    custom: str = field(default_factory=lambda: f"custom-{uuid.uuid4().hex}")
    cookie: str = field(default_factory=lambda: f"cookie-{uuid.uuid4().hex}")
    subject_token: str = field(default_factory=lambda: f"subject-{uuid.uuid4().hex}")

    def all(self) -> list[str]:
        """Every secret, plus the Basic credentials as they travel (base64)."""
        basic = base64.b64encode(f"user:{self.basic_password}".encode()).decode()
        values = [value for value in vars(self).values() if isinstance(value, str)]
        return [*values, basic]


class SecretHeadersApp:
    """Raw ASGI app: 200 with set-cookie, x-subject-token and the credentials it got, echoed."""

    def __init__(self) -> None:
        """Start without secrets; each test sets its own."""
        self.secrets = Secrets()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Answer every request the same way (lifespan acknowledged)."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        while (await receive()).get("more_body"):
            pass
        echoed = [(k, v) for k, v in scope["headers"] if k in (b"authorization", b"x-api-key", b"x-tenant")]
        headers = [
            (b"content-type", b"application/json"),
            (b"set-cookie", f"session={self.secrets.cookie}; Path=/; HttpOnly".encode()),
            (b"x-subject-token", self.secrets.subject_token.encode()),
            *echoed,
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})


class TenantKeyAuth(httpx.Auth):
    """A custom strategy putting its secret in a header whose name does not look secret (echoed back)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the tenant key."""
        request.headers["X-Tenant"] = self.key
        yield request


@pytest.fixture(scope="module")
def secret_app() -> SecretHeadersApp:
    """The app, shared by the tests of this module."""
    return SecretHeadersApp()


@pytest.fixture(scope="module")
def secret_url(serve_asgi: Callable[..., str], secret_app: SecretHeadersApp) -> str:
    """Base URL of the app served by uvicorn on 127.0.0.1."""
    return serve_asgi(secret_app)


@pytest.fixture(params=[True, False], ids=["json", "text"])
def debug_log(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """``configure_logging(level="DEBUG")`` into a buffer, every library logger at DEBUG."""
    buffer = io.StringIO()
    configure_logging(
        level="DEBUG", json=request.param, stream=buffer, levels=dict.fromkeys(THIRD_PARTY_LOGGERS, "DEBUG")
    )
    yield buffer
    shutdown_logging()
    logging.getLogger().setLevel(logging.WARNING)
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)


async def test_no_secret_in_any_debug_line(
    secret_app: SecretHeadersApp, secret_url: str, debug_log: io.StringIO
) -> None:
    """Every auth kind and every secret response header, at DEBUG: no secret in any formatted line."""
    secrets = secret_app.secrets = Secrets()

    async def provider() -> SecretStr:
        return SecretStr(secrets.provided)

    strategies: list[httpx.Auth] = [
        BearerAuth(secrets.bearer),
        BearerAuth(provider=provider),
        BasicAuth("user", secrets.basic_password),
        ApiKeyAuth(secrets.header_key),
        ApiKeyAuth(secrets.query_key, query_param="api_key"),
        TenantKeyAuth(secrets.custom),
    ]
    settings = HttpSettings(base_url=secret_url, log_headers=True)
    statuses = []
    for auth in strategies:
        async with create_client(settings, auth=auth) as client:
            response = await client.get("/resource", params={"page": "1"})
            statuses.append(response.status_code)
            assert response.headers["x-subject-token"] == secrets.subject_token  # the server sent it
    output = debug_log.getvalue()

    assert statuses == [200] * len(strategies)
    # The capture holds httpcore's header tuples, httpx's request lines and internal_http's lines.
    assert "receive_response_headers.complete" in output
    assert "x-subject-token" in output
    assert "HTTP Request: GET" in output
    assert "http_response_headers" in output
    leaked = [secret for secret in secrets.all() if secret in output]
    assert leaked == []
