"""Unit tests for redacted request/response logging."""

from __future__ import annotations

import logging

import httpx
import pytest

from internal_base.resilience import testing
from internal_http import HttpSettings, RetryConfig, RetryTransport, create_client
from internal_http._logging import mark_secret, safe_headers, safe_url


def test_safe_url_masks_secret_query_and_password() -> None:
    """Passwords in userinfo and secret query values are masked; others stay."""
    request = httpx.Request("GET", "https://bob:pw-123@api.test/x?token=t-456&page=2")
    text = safe_url(request)
    assert "pw-123" not in text
    assert "t-456" not in text
    assert "page=2" in text


def test_safe_url_masks_marked_names() -> None:
    """Names marked on the request are masked even when they do not look secret."""
    request = httpx.Request("GET", "https://api.test/x?k=v-789&page=2")
    mark_secret(request, "K")
    mark_secret(request, "k")
    assert safe_url(request) == "https://api.test/x?k=***&page=2"


def test_safe_headers() -> None:
    """Authorization, cookies, API keys and extra names are masked."""
    headers = {
        "Authorization": "Bearer abc",
        "Cookie": "sid=1",
        "X-API-Key": "key",
        "X-Custom": "c",
        "Accept": "a",
    }
    masked = safe_headers(headers, ["x-custom"])
    assert masked == {
        "Authorization": "***",
        "Cookie": "***",
        "X-API-Key": "***",
        "X-Custom": "***",
        "Accept": "a",
    }


async def test_debug_log_line_fields(caplog: pytest.LogCaptureFixture) -> None:
    """A DEBUG line carries method, redacted URL, status, duration and attempt."""
    caplog.set_level(logging.DEBUG, logger="internal_http")
    transport = RetryTransport(httpx.MockTransport(lambda r: httpx.Response(201)), log_headers=True)
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get("https://api.test/x?api_key=secret-1", headers={"Authorization": "Bearer secret-2"})
    (record,) = (r for r in caplog.records if r.name == "internal_http")
    assert record.levelno == logging.DEBUG
    assert record.http_method == "GET"  # type: ignore[attr-defined]
    assert record.http_status == 201  # type: ignore[attr-defined]
    assert record.http_attempt == 1  # type: ignore[attr-defined]
    assert record.http_duration_ms >= 0  # type: ignore[attr-defined]
    assert record.http_request_headers["authorization"] == "***"  # type: ignore[attr-defined]
    assert "secret-1" not in record.getMessage()
    assert "secret-2" not in str(record.__dict__)


async def test_nothing_logged_when_disabled(caplog: pytest.LogCaptureFixture) -> None:
    """With the logger above DEBUG a successful request logs nothing."""
    caplog.set_level(logging.INFO, logger="internal_http")
    transport = RetryTransport(httpx.MockTransport(lambda r: httpx.Response(200)))
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get("https://api.test/")
    assert [r for r in caplog.records if r.name == "internal_http"] == []


async def test_failures_logged_as_warnings(caplog: pytest.LogCaptureFixture) -> None:
    """Failed attempts are logged at WARNING with the (redacted) error."""
    caplog.set_level(logging.DEBUG, logger="internal_http")

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused for https://api.test/?token=tok-1")

    transport = RetryTransport(httpx.MockTransport(handler), retry=RetryConfig(attempts=2))
    with testing():
        async with httpx.AsyncClient(transport=transport) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get("https://api.test/?token=tok-1")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "internal_http"]
    assert [r.http_attempt for r in warnings] == [1, 2]  # type: ignore[attr-defined]
    assert all("tok-1" not in r.getMessage() for r in caplog.records)
    assert "ConnectError" in warnings[0].getMessage()


async def test_token_as_url_username_masked(caplog: pytest.LogCaptureFixture) -> None:
    """A URL's lone username (httpx sends it as Basic credentials, often a token) never reaches a log."""
    caplog.set_level(logging.DEBUG)
    transport = httpx.MockTransport(lambda r: httpx.Response(200))
    async with create_client(HttpSettings(), transport=transport) as client:
        await client.get("https://ghp_tok-321@api.test/x?page=2")
    lines = [r.getMessage() for r in caplog.records if r.name in ("internal_http", "httpx")]
    assert len(lines) == 2
    assert all("tok-321" not in line for line in lines), lines
    assert safe_url(httpx.Request("GET", "https://ghp_tok-321@api.test/x")) == "https://***@api.test/x"
    assert safe_url(httpx.Request("GET", "https://bob:pw@api.test/x")) == "https://bob:***@api.test/x"
