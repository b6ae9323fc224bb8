"""Adversarial review over uvicorn: repeated W3C trace headers are combined or refused, never last-wins."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import baggage, trace

from internal_base.health import HealthRegistry
from internal_fastapi import FastAPISettings, install

TRACE_1 = "0af7651916cd43dd8448eb211c80319c"
TRACE_2 = "11111111111111111111111111111111"


def _parent(trace_id: str) -> str:
    return f"00-{trace_id}-b7ad6b7169203331-01"


def _build() -> FastAPI:
    app = FastAPI()
    install(app, FastAPISettings(), health_registry=HealthRegistry(cache_ttl=0))

    @app.get("/trace")
    async def current() -> dict[str, object]:
        context = trace.get_current_span().get_span_context()
        return {
            "trace_id": format(context.trace_id, "032x"),
            "tracestate": context.trace_state.to_header(),
            "baggage": dict(baggage.get_all()),
        }

    return app


@pytest.fixture(scope="module")
def base_url(serve_asgi: Callable[..., str]) -> str:
    """One real uvicorn server for the module."""
    return serve_asgi(_build())


@pytest.fixture()
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the real server."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        yield http


async def test_repeated_tracestate_headers_are_combined(client: httpx.AsyncClient) -> None:
    """Two tracestate headers give one trace state with both vendors' entries (W3C: combine)."""
    headers = [("traceparent", _parent(TRACE_1)), ("tracestate", "a=1"), ("tracestate", "b=2")]
    body = (await client.get("/trace", headers=headers)).json()
    assert (body["trace_id"], body["tracestate"]) == (TRACE_1, "a=1,b=2")


async def test_repeated_baggage_headers_are_combined(client: httpx.AsyncClient) -> None:
    """Two baggage headers give the members of both."""
    headers = [("traceparent", _parent(TRACE_1)), ("baggage", "k1=v1"), ("baggage", "k2=v2")]
    body = (await client.get("/trace", headers=headers)).json()
    assert body["baggage"] == {"k1": "v1", "k2": "v2"}


async def test_conflicting_traceparents_start_a_new_trace(client: httpx.AsyncClient) -> None:
    """Two different traceparent headers are trusted in neither: the request gets a trace of its own."""
    headers = [("traceparent", _parent(TRACE_1)), ("traceparent", _parent(TRACE_2))]
    body = (await client.get("/trace", headers=headers)).json()
    assert body["trace_id"] not in (TRACE_1, TRACE_2)
