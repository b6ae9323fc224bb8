"""Correlation, request logging and error-handling middleware (pure ASGI)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI, Request, Response, WebSocket
from fastapi.responses import StreamingResponse
from opentelemetry import trace
from starlette.types import Message, Receive, Scope, Send

from internal_base.context import get_correlation_id, get_request_id
from internal_base.logging import ContextFilter
from internal_fastapi import (
    CorrelationIdMiddleware,
    FastAPISettings,
    install,
    is_valid_id,
)

ClientFactory = Callable[[FastAPI], httpx.AsyncClient]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture()
def app_with_routes(app: FastAPI) -> FastAPI:
    """The installed app plus routes that report their context or fail."""

    @app.get("/ids")
    async def ids(request: Request) -> dict[str, str | None]:
        return {
            "correlation_id": get_correlation_id(),
            "request_id": get_request_id(),
            "state_correlation_id": request.state.correlation_id,
            "trace_id": format(trace.get_current_span().get_span_context().trace_id, "032x"),
        }

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom with password=hunter2")

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"first"
            raise RuntimeError("mid-stream failure")

        return StreamingResponse(body())

    return app


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("abc-123", True),
        ("0af7651916cd43dd8448eb211c80319c", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("", False),
        (None, False),
        ("has space", False),
        ("<script>", False),
        ('quote"', False),
    ],
)
def test_is_valid_id(value: str | None, valid: bool) -> None:
    """IDs are 1..128 characters of a header- and log-safe alphabet."""
    assert is_valid_id(value) is valid


async def test_valid_ids_round_trip(app_with_routes: FastAPI, make_client: ClientFactory) -> None:
    """Incoming IDs reach the route's context and request.state and come back as headers."""
    async with make_client(app_with_routes) as client:
        response = await client.get("/ids", headers={"X-Correlation-ID": "corr-1", "X-Request-ID": "req-1"})
    body = response.json()
    assert body["correlation_id"] == body["state_correlation_id"] == "corr-1"
    assert body["request_id"] == "req-1"
    assert response.headers["x-correlation-id"] == "corr-1"
    assert response.headers["x-request-id"] == "req-1"


@pytest.mark.parametrize("bad", ["x" * 129, "bad id", "a,b", "<svg>"])
async def test_invalid_ids_are_replaced(
    app_with_routes: FastAPI, make_client: ClientFactory, bad: str
) -> None:
    """An invalid incoming correlation ID is replaced by a new 32-hex one."""
    async with make_client(app_with_routes) as client:
        response = await client.get("/ids", headers={"X-Correlation-ID": bad})
    new = response.headers["x-correlation-id"]
    assert new != bad
    assert re_hex(new)
    assert response.json()["correlation_id"] == new


def re_hex(value: str) -> bool:
    """True for 32 lowercase hex characters."""
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


async def test_ids_are_generated_when_absent(app_with_routes: FastAPI, make_client: ClientFactory) -> None:
    """Without headers both IDs are generated, distinct, and differ between requests."""
    async with make_client(app_with_routes) as client:
        first = await client.get("/ids")
        second = await client.get("/ids")
    assert re_hex(first.headers["x-correlation-id"])
    assert re_hex(first.headers["x-request-id"])
    assert first.headers["x-correlation-id"] != second.headers["x-correlation-id"]
    assert first.headers["x-request-id"] != first.headers["x-correlation-id"]


async def test_untrusted_ids_are_always_regenerated(make_client: ClientFactory) -> None:
    """``trust_incoming_ids=False`` ignores even valid incoming IDs."""
    app = FastAPI()
    install(app, FastAPISettings(trust_incoming_ids=False))

    @app.get("/cid")
    async def cid() -> str | None:
        return get_correlation_id()

    async with make_client(app) as client:
        response = await client.get("/cid", headers={"X-Correlation-ID": "corr-1"})
    assert response.headers["x-correlation-id"] != "corr-1"
    assert response.json() == response.headers["x-correlation-id"]


async def test_long_ids_allowed_by_settings_reach_the_context(make_client: ClientFactory) -> None:
    """With ``max_id_length=256`` a valid 200-character ID is the route's ID and the echoed header."""
    app = FastAPI()
    install(app, FastAPISettings(max_id_length=256))

    @app.get("/ids")
    async def ids() -> list[str | None]:
        return [get_correlation_id(), get_request_id()]

    long_cid, long_rid = "c" * 200, "r" * 200
    async with make_client(app) as client:
        response = await client.get("/ids", headers={"X-Correlation-ID": long_cid, "X-Request-ID": long_rid})
    assert response.json() == [long_cid, long_rid]
    assert (response.headers["x-correlation-id"], response.headers["x-request-id"]) == (long_cid, long_rid)


async def test_trace_context_is_restored(app_with_routes: FastAPI, make_client: ClientFactory) -> None:
    """A W3C traceparent header becomes the route's current trace."""
    headers = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
    async with make_client(app_with_routes) as client:
        response = await client.get("/ids", headers=headers)
    assert response.json()["trace_id"] == TRACE_ID


async def test_context_does_not_leak_after_the_request(
    app_with_routes: FastAPI, make_client: ClientFactory
) -> None:
    """The caller's context is untouched once the request is done."""
    async with make_client(app_with_routes) as client:
        await client.get("/ids", headers={"X-Correlation-ID": "corr-1"})
    assert get_correlation_id() is None


async def test_error_responses_carry_the_ids(app_with_routes: FastAPI, make_client: ClientFactory) -> None:
    """500 and 404 responses echo the correlation ID in the header and the body."""
    async with make_client(app_with_routes) as client:
        failed = await client.get("/boom", headers={"X-Correlation-ID": "corr-500"})
        missing = await client.get("/nowhere", headers={"X-Correlation-ID": "corr-404"})
    assert (failed.status_code, failed.headers["x-correlation-id"]) == (500, "corr-500")
    assert failed.json()["correlation_id"] == "corr-500"
    assert (missing.status_code, missing.json()["correlation_id"]) == (404, "corr-404")


async def test_non_http_scopes_pass_through() -> None:
    """Lifespan messages reach the app untouched and without a correlation scope."""
    seen: list[tuple[str, str | None]] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope["type"], get_correlation_id()))

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        return None

    await CorrelationIdMiddleware(inner)({"type": "lifespan"}, receive, send)
    assert seen == [("lifespan", None)]


async def test_websocket_gets_a_correlation_scope() -> None:
    """A websocket connection runs with the incoming correlation ID."""
    app = FastAPI()
    install(app, FastAPISettings())

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(get_correlation_id() or "")
        await websocket.close()

    incoming: list[Message] = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "path": "/ws",
        "raw_path": b"/ws",
        "root_path": "",
        "scheme": "ws",
        "query_string": b"",
        "headers": [(b"x-correlation-id", b"ws-1")],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
        "subprotocols": [],
        "app": app,
    }
    await app(scope, receive, send)
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert sent[1]["text"] == "ws-1"


async def test_one_access_line_per_request(
    app_with_routes: FastAPI, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The access log has method, path, status, duration and correlation ID; query secrets are masked."""
    caplog.set_level(logging.INFO, logger="internal_fastapi.access")
    caplog.handler.addFilter(ContextFilter())  # stamps the IDs, as every internal_base handler does
    async with make_client(app_with_routes) as client:
        await client.get("/ids?token=s3cr3t&page=2", headers={"X-Correlation-ID": "corr-log"})
    records = [r for r in caplog.records if r.name == "internal_fastapi.access"]
    assert len(records) == 1
    record = records[0]
    assert record.levelno == logging.INFO
    assert record.__dict__["http_method"] == "GET"
    assert record.__dict__["http_status"] == 200
    assert record.__dict__["correlation_id"] == "corr-log"
    assert "extra_correlation_id" not in record.__dict__  # the ID is not an extra as well
    assert record.__dict__["duration_ms"] >= 0
    assert re.fullmatch(r"GET /ids\?token=\*\*\*&page=2 200 \d+\.\dms", record.getMessage())
    assert "s3cr3t" not in record.getMessage()


async def test_control_characters_in_the_path_cannot_forge_log_lines(
    app_with_routes: FastAPI, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A percent-encoded CR/LF in the path is logged re-encoded, never as a line break."""
    caplog.set_level(logging.INFO, logger="internal_fastapi.access")
    async with make_client(app_with_routes) as client:
        await client.get("/nowhere%0d%0aINFO%20forged")
    [record] = [r for r in caplog.records if r.name == "internal_fastapi.access"]
    assert record.__dict__["http_path"] == "/nowhere%0D%0AINFO%20forged"
    assert "\n" not in record.getMessage()
    assert "\r" not in record.getMessage()


async def test_server_errors_are_logged_at_error(
    app_with_routes: FastAPI, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A 500 gives an ERROR access line plus one traceback record."""
    caplog.set_level(logging.INFO)
    async with make_client(app_with_routes) as client:
        await client.get("/boom")
    access = [r for r in caplog.records if r.name == "internal_fastapi.access"]
    errors = [r for r in caplog.records if r.name == "internal_fastapi.errors"]
    assert [(r.levelno, r.__dict__["http_status"]) for r in access] == [(logging.ERROR, 500)]
    assert len(errors) == 1
    assert errors[0].exc_info is not None


async def test_probes_are_not_logged(
    app_with_routes: FastAPI, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The default excluded paths (health probes) produce no access line."""
    caplog.set_level(logging.INFO, logger="internal_fastapi.access")
    async with make_client(app_with_routes) as client:
        await client.get("/health/live")
    assert [r for r in caplog.records if r.name == "internal_fastapi.access"] == []


async def test_failure_after_the_response_started_is_reraised(
    app_with_routes: FastAPI, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A stream that fails midway cannot become a problem response: it is logged and re-raised."""
    caplog.set_level(logging.INFO)
    async with make_client(app_with_routes) as client:
        with pytest.raises(RuntimeError, match="mid-stream"):
            await client.get("/stream")
    messages = [r.getMessage() for r in caplog.records if r.name == "internal_fastapi.errors"]
    assert messages == ["exception after the response started"]
    access = [r for r in caplog.records if r.name == "internal_fastapi.access"]
    assert [r.__dict__["http_status"] for r in access] == [200]


async def test_disabled_access_level_skips_the_line(
    app_with_routes: FastAPI, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """With the access logger at WARNING, successes are not logged but 5xx still are."""
    caplog.set_level(logging.WARNING, logger="internal_fastapi.access")
    async with make_client(app_with_routes) as client:
        await client.get("/ids")
        await client.get("/boom")
    statuses = [r.__dict__["http_status"] for r in caplog.records if r.name == "internal_fastapi.access"]
    assert statuses == [500]


async def test_the_apps_own_id_headers_are_replaced(app: FastAPI, make_client: ClientFactory) -> None:
    """A response that sets X-Correlation-ID / X-Request-ID itself still carries the request's IDs, once."""

    @app.get("/own-ids")
    async def own_ids() -> Response:
        return Response(
            headers={"X-Correlation-ID": "set-by-app", "x-request-id": "also-by-app", "X-Other": "kept"}
        )

    async with make_client(app) as client:
        response = await client.get(
            "/own-ids", headers={"X-Correlation-ID": "corr-own", "X-Request-ID": "req-own"}
        )
    assert response.headers.get_list("x-correlation-id") == ["corr-own"]
    assert response.headers.get_list("x-request-id") == ["req-own"]
    assert response.headers["x-other"] == "kept"
