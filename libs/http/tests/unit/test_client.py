"""Unit tests for create_client (httpx.MockTransport, no network)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from internal_base.context import CORRELATION_ID_HEADER, correlation_scope
from internal_base.health import HealthRegistry
from internal_http import (
    BearerAuth,
    BreakerConfig,
    BreakerRegistry,
    Http2NotAvailableError,
    HttpError,
    HttpResilienceSettings,
    HttpSettings,
    RetryTransport,
    TimeoutConfig,
    create_client,
)
from internal_http._client import require_extra


def _echo(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"url": str(request.url), "headers": dict(request.headers)})


async def test_returns_configured_async_client() -> None:
    """The factory returns an httpx.AsyncClient with base URL, timeouts and headers from settings."""
    settings = HttpSettings(
        base_url="https://api.test/v1",
        timeout=TimeoutConfig(connect=1.0, read=2.0, write=3.0, pool=4.0),
        headers={"User-Agent": "svc/1.0"},
    )
    async with create_client(settings, transport=httpx.MockTransport(_echo)) as client:
        assert isinstance(client, httpx.AsyncClient)
        assert client.timeout == httpx.Timeout(connect=1.0, read=2.0, write=3.0, pool=4.0)
        body = (await client.get("/items")).json()
    assert body["url"] == "https://api.test/v1/items"
    assert body["headers"]["user-agent"] == "svc/1.0"


async def test_transport_is_retry_wrapper_with_breakers() -> None:
    """The client's transport is a RetryTransport with a breaker registry by default."""
    client = create_client(HttpSettings(), transport=httpx.MockTransport(_echo))
    transport = client._transport  # the public API has no accessor for the transport
    assert isinstance(transport, RetryTransport)
    assert isinstance(transport.breakers, BreakerRegistry)
    await client.aclose()


async def test_breakers_can_be_disabled_or_shared() -> None:
    """resilience.breaker.failure_threshold=0 disables breakers; a given registry is used as is."""
    registry = BreakerRegistry()
    off_settings = HttpSettings(resilience=HttpResilienceSettings(breaker=BreakerConfig(failure_threshold=0)))
    off = create_client(off_settings, transport=httpx.MockTransport(_echo))
    shared = create_client(transport=httpx.MockTransport(_echo), breaker_registry=registry)
    assert isinstance(off._transport, RetryTransport)
    assert isinstance(shared._transport, RetryTransport)
    assert off._transport.breakers is None
    assert shared._transport.breakers is registry
    await off.aclose()
    await shared.aclose()


async def test_context_headers_injected_without_overwriting() -> None:
    """The correlation id is added; a caller-set header is kept."""
    async with create_client(transport=httpx.MockTransport(_echo)) as client, correlation_scope("corr-1"):
        injected = (await client.get("https://api.test/")).json()["headers"]
        kept = (await client.get("https://api.test/", headers={CORRELATION_ID_HEADER: "mine"})).json()
    assert injected["x-correlation-id"] == "corr-1"
    assert kept["headers"]["x-correlation-id"] == "mine"


async def test_httpx_kwargs_and_extra_hooks() -> None:
    """httpx kwargs override settings and extra event hooks run too."""
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.headers.get(CORRELATION_ID_HEADER, ""))

    async with (
        create_client(
            transport=httpx.MockTransport(_echo),
            event_hooks={"request": [hook]},
            base_url="https://other.test",
            auth=BearerAuth("t"),
        ) as client,
        correlation_scope("corr-2"),
    ):
        body = (await client.get("/p")).json()
    assert body["url"] == "https://other.test/p"
    assert body["headers"]["authorization"] == "Bearer t"
    assert seen == ["corr-2"]


async def test_http2_enabled_builds_http2_transport() -> None:
    """http2=True (h2 installed) builds a client whose pool speaks HTTP/2."""
    client = create_client(HttpSettings(http2=True))
    transport = client._transport
    assert isinstance(transport, RetryTransport)
    assert isinstance(transport.wrapped, httpx.AsyncHTTPTransport)
    assert transport.wrapped._pool._http2 is True
    await client.aclose()


def test_missing_extra_names_it() -> None:
    """A missing optional module raises an ImportError that names the pip extra."""
    with pytest.raises(Http2NotAvailableError, match=r"internal-http\[http2\]") as info:
        require_extra("no_such_module_for_internal_http", "http2")
    assert isinstance(info.value, ImportError)
    assert isinstance(info.value, HttpError)
    assert info.value.name == "no_such_module_for_internal_http"


def test_require_extra_returns_module() -> None:
    """An installed module is returned."""
    assert require_extra("h2", "http2").__name__ == "h2"


@pytest.mark.parametrize("option", ["limits", "verify", "http2"])
def test_transport_options_as_keywords_are_rejected(option: str) -> None:
    """httpx would silently ignore them beside our transport, so the factory names them instead."""
    with pytest.raises(TypeError, match=f"'{option}'.*HttpSettings"):
        create_client(**{option: False})  # type: ignore[arg-type]


async def test_without_settings_the_yaml_file_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """create_client() with only COMMONS_CONFIG_FILE set takes base_url, headers, resilience from YAML."""
    config = tmp_path / "service.yaml"
    config.write_text(
        "http:\n  base_url: https://orders.internal/v2\n  headers:\n    X-Service: billing\n"
        "  resilience:\n    retry:\n      attempts: 4\n"
    )
    monkeypatch.setenv("COMMONS_CONFIG_FILE", str(config))
    registry = HealthRegistry()
    async with create_client(transport=httpx.MockTransport(_echo), health_registry=registry) as client:
        body = (await client.get("/items")).json()
        transport = client._transport
    assert body["url"] == "https://orders.internal/v2/items"
    assert body["headers"]["x-service"] == "billing"
    assert isinstance(transport, RetryTransport)
    assert transport.retry.attempts == 4
