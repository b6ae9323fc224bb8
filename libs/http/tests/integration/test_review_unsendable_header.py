"""Integration: a credential HTTP/1.1 cannot send never shows up in an error message or a log line.

A key read from a file often ends with a newline. h11 refuses such a header value with
``Illegal header value b'<the key>'``: the key itself in the exception message, in httpcore's
DEBUG line and in every traceback a caller logs. The request must fail the same way (an
``httpx.LocalProtocolError``, nothing sent) with a message that names the header, not its value.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from internal_base.logging import configure_logging, shutdown_logging
from internal_http import ApiKeyAuth, BearerAuth, HttpSettings, create_client

from .app import ProgrammableApp

LOGGERS = ("httpcore", "httpx", "internal_http", "review")


@pytest.fixture()
def debug_log() -> Iterator[io.StringIO]:
    """``configure_logging(level="DEBUG")`` (text) into a buffer, httpx/httpcore at DEBUG."""
    buffer = io.StringIO()
    configure_logging(level="DEBUG", json=False, stream=buffer, levels=dict.fromkeys(LOGGERS, "DEBUG"))
    yield buffer
    shutdown_logging()
    logging.getLogger().setLevel(logging.WARNING)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)


def _secret() -> str:
    return f"key-{uuid.uuid4().hex}"


CASES: dict[str, Callable[[str], tuple[httpx.Auth | None, dict[str, str], str]]] = {
    "api-key-newline": lambda s: (ApiKeyAuth(s + "\n"), {}, "x-api-key"),
    "api-key-custom-header-cr": lambda s: (ApiKeyAuth(s + "\r", header="X-Tenant"), {}, "x-tenant"),
    "bearer-newline": lambda s: (BearerAuth(s + "\n"), {}, "authorization"),
    "request-header-crlf": lambda s: (None, {"X-Service-Key": s + "\r\nX-Injected: 1"}, "x-service-key"),
    "request-header-trailing-space": lambda s: (None, {"X-Service-Key": s + " "}, "x-service-key"),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_unsendable_header_value_is_not_in_the_error_or_logs(
    base_url: str, app: ProgrammableApp, key: str, debug_log: io.StringIO, case: str
) -> None:
    """The LocalProtocolError names the header only; no log line holds the value; nothing is sent."""
    secret = _secret()
    auth, headers, header = CASES[case](secret)
    async with create_client(HttpSettings(base_url=base_url), auth=auth) as client:
        with pytest.raises(httpx.LocalProtocolError) as caught:
            await client.get("/echo", params={"key": key}, headers=headers)
    logging.getLogger("review").error("call failed", exc_info=caught.value)
    message = str(caught.value)
    assert header in message.lower()
    assert secret not in message
    assert secret not in debug_log.getvalue()
    assert "call failed" in debug_log.getvalue()
    assert app.hits[key] == 0
