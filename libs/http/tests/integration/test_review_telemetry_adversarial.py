"""Adversarial review of internal_http.telemetry against the loopback servers.

Secrets are checked on spans taken straight from the SDK (no redacting exporter in between), so
only internal_http's own masking stands between a credential and the span.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Generator, Iterator
from dataclasses import dataclass

import anyio
import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from internal_base.redaction import is_secret_key
from internal_base.resilience import testing
from internal_base.telemetry import configure_telemetry
from internal_http import (
    ApiKeyAuth,
    BreakerConfig,
    HttpResilienceSettings,
    HttpSettings,
    HttpUnavailableError,
    RetryConfig,
    TimeoutConfig,
    create_client,
)
from internal_http.telemetry import instrument, uninstrument

from .app import ProgrammableApp

_METRIC_KEYS = {
    "http.request.method",
    "server.address",
    "server.port",
    "http.response.status_code",
    "error.type",
    "url.scheme",
    "network.protocol.version",
}


@dataclass
class Raw:
    """Providers without any redacting exporter: what internal_http put on the span, unaltered."""

    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider

    def finished(self) -> list[ReadableSpan]:
        return [
            s
            for s in self.spans.get_finished_spans()
            if s.instrumentation_scope is not None and s.instrumentation_scope.name == "internal_http"
        ]

    def points(self) -> list[HistogramDataPoint]:
        data = self.reader.get_metrics_data()
        found: list[HistogramDataPoint] = []
        for resource in data.resource_metrics if data is not None else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == "http.client.request.duration":
                        found.extend(p for p in metric.data.data_points if isinstance(p, HistogramDataPoint))
        return found


@pytest.fixture()
def raw() -> Iterator[Raw]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    instrument(tracer_provider=tracer_provider, meter_provider=MeterProvider(metric_readers=[reader]))
    try:
        yield Raw(spans, reader, tracer_provider)
    finally:
        uninstrument()


@pytest.fixture()
def no_wait() -> Iterator[testing]:
    with testing() as mode:
        yield mode


def _everything(raw: Raw) -> str:
    parts: list[str] = []
    for span in raw.finished():
        parts.append(span.name)
        parts.extend(str(v) for v in (span.attributes or {}).values())
        for event in span.events:
            parts.append(event.name)
            parts.extend(str(v) for v in (event.attributes or {}).values())
        parts.append(str(span.status.description))
    for point in raw.points():
        parts.extend(str(v) for v in dict(point.attributes or {}).values())
    return " ".join(parts)


def _span_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.span_id, "016x")


class _HugeFailure(httpx.Auth):
    """An auth flow that fails with a 3 MB message starting with a credential."""

    def __init__(self, size: int) -> None:
        self.size = size

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("password=huge-secret-1 " + "x" * self.size + " token=tail-secret-2")
        yield request  # type: ignore[unreachable]  # pragma: no cover


async def test_a_huge_exception_message_is_cut_before_it_reaches_the_span(base_url: str, raw: Raw) -> None:
    """A multi-megabyte message: span fields hold at most ~100,000 characters, secrets masked."""
    async with create_client(HttpSettings(base_url=base_url), auth=_HugeFailure(3_000_000)) as client:
        with pytest.raises(RuntimeError):
            await client.get("/echo")
    (span,) = raw.finished()
    text = _everything(raw)
    assert "huge-secret-1" not in text
    assert "tail-secret-2" not in text
    (exception,) = (e for e in span.events if e.name == "exception")
    attributes = dict(exception.attributes or {})
    assert len(str(attributes["exception.message"])) <= 100_200
    assert len(str(attributes["exception.stacktrace"])) <= 100_200
    assert str(attributes["exception.type"]).endswith("RuntimeError")
    assert len(str(span.status.description)) <= 100_200


async def test_userinfo_and_encoded_query_names_never_reach_span_or_metric(
    base_url: str, key: str, raw: Raw
) -> None:
    """Userinfo and percent-encoded secret query names (%61pi_key, access%5Ftoken) are masked."""
    url = httpx.URL(base_url)
    target = (
        f"http://bob:ui-secret-3@{url.host}:{url.port}/echo?key={key}"
        "&%61pi_key=enc-secret-4&access%5Ftoken=enc-secret-5&Token=case-secret-6"
    )
    async with create_client(HttpSettings()) as client:
        response = await client.get(target)
    assert response.status_code == 200
    text = _everything(raw)
    for secret in ("ui-secret-3", "enc-secret-4", "enc-secret-5", "case-secret-6", "bob"):
        assert secret not in text, secret


class _CustomTokenAuth(httpx.Auth):
    """A user's own auth: a custom header and a query parameter carry the token."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-Review-Signature"] = "custom-secret-7"
        request.url = request.url.copy_merge_params({"review_sig": "custom-secret-8"})
        yield request


async def test_custom_auth_tokens_and_redirect_credentials_never_reach_the_span(
    base_url: str, other_url: str, key: str, raw: Raw
) -> None:
    """A custom httpx.Auth's header/query tokens and a redirect to a URL with credentials stay masked."""
    other = httpx.URL(other_url)
    to = f"http://carol:redirect-secret-9@{other.host}:{other.port}/echo?token=redirect-secret-10"
    settings = HttpSettings(base_url=base_url, follow_redirects=True)
    async with create_client(settings, auth=_CustomTokenAuth()) as client:
        response = await client.get("/redirect", params={"to": to, "key": key})
    assert response.status_code == 200
    text = _everything(raw)
    for secret in ("custom-secret-7", "custom-secret-8", "redirect-secret-9", "redirect-secret-10"):
        assert secret not in text, secret
    (span,) = raw.finished()
    hop = [e for e in span.events if "url.full" in (e.attributes or {})]
    assert [str((e.attributes or {})["url.full"]).split("@")[0] for e in hop] == ["http://***"]


async def test_metric_attributes_stay_low_cardinality(
    base_url: str, key: str, raw: Raw, no_wait: testing
) -> None:
    """Successes, error statuses, exceptions and odd methods: only semconv low-cardinality keys."""
    settings = HttpSettings(
        base_url=base_url, resilience=HttpResilienceSettings(retry=RetryConfig(attempts=2))
    )
    async with create_client(settings) as client:
        await client.get(f"/echo/{key}", params={"key": key})
        await client.request("PURGE-" + key[:6].upper(), "/echo", params={"key": key})
        await client.get("/flaky", params={"key": key, "fail": "9", "status": "404"})
        with pytest.raises(httpx.HTTPError):
            await client.get("/drop", params={"key": key + "d", "fail": "9"})
    points = raw.points()
    assert points
    for point in points:
        attributes = dict(point.attributes or {})
        assert set(attributes) <= _METRIC_KEYS, attributes
        assert key not in " ".join(str(v) for v in attributes.values())
    assert {dict(p.attributes or {})["http.request.method"] for p in points} == {"GET", "_OTHER"}


async def test_a_stream_span_ends_at_headers_and_an_abandoned_stream_leaks_no_context(
    base_url: str, key: str, raw: Raw
) -> None:
    """client.stream: the span ends once the headers are in; leaving a stream open changes no context."""
    tracer = raw.tracer_provider.get_tracer("review")
    async with create_client(HttpSettings(base_url=base_url)) as client:
        with tracer.start_as_current_span("caller") as caller:
            request = client.build_request("GET", "/echo", params={"key": key})
            response = await client.send(request, stream=True)  # never closed until the end
            assert trace.get_current_span() is caller
            assert len(raw.finished()) == 1  # ended at headers, the body still unread
            async with client.stream("GET", "/echo", params={"key": key}) as streamed:
                assert trace.get_current_span() is caller
                assert (await streamed.aread()).startswith(b"{")
            assert trace.get_current_span() is caller
            await response.aclose()
    assert len(raw.finished()) == 2


async def test_cancellation_mid_call_ends_the_span_and_restores_the_context(
    base_url: str, key: str, app: ProgrammableApp, raw: Raw
) -> None:
    """A call cancelled while the server holds it: a failed span, and the caller's span current again."""
    tracer = raw.tracer_provider.get_tracer("review")
    async with create_client(HttpSettings(base_url=base_url)) as client:
        with tracer.start_as_current_span("caller") as caller:
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as group:

                    async def cancel_when_held() -> None:
                        with anyio.fail_after(30):
                            while app.in_flight[key] == 0:
                                await asyncio.sleep(0.01)
                        scope.cancel()

                    group.start_soon(cancel_when_held)
                    await client.get("/slow", params={"key": key, "seconds": "10"})
            assert scope.cancelled_caught
            assert trace.get_current_span() is caller
            after = await client.get("/echo", params={"key": key})
    spans = raw.finished()
    assert len(spans) == 2
    cancelled, answered = spans
    assert cancelled.status.status_code is StatusCode.ERROR
    assert "CancelledError" in str(dict(cancelled.attributes or {})["error.type"])
    assert cancelled.parent is not None
    assert cancelled.parent.span_id == caller.get_span_context().span_id
    assert answered.parent is not None
    assert answered.parent.span_id == caller.get_span_context().span_id
    assert after.json()["headers"]["traceparent"].split("-")[2] == _span_id(answered)


async def test_timeout_breaker_and_exhausted_retries_restore_the_context(
    base_url: str, key: str, raw: Raw, no_wait: testing
) -> None:
    """Each failure kind: the right error.type, status ERROR, and no span left current afterwards."""
    resilience = HttpResilienceSettings(
        retry=RetryConfig(attempts=2), breaker=BreakerConfig(failure_threshold=1, reset_timeout=600)
    )
    outer = trace.get_current_span()
    slow = HttpSettings(base_url=base_url, timeout=TimeoutConfig(read=0.2), resilience=resilience)
    async with create_client(slow) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/delay", params={"key": key, "seconds": "30"})
        assert trace.get_current_span() is outer
    async with create_client(HttpSettings(base_url=base_url, resilience=resilience)) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("/drop", params={"key": key, "fail": "9"})
        assert trace.get_current_span() is outer
        with pytest.raises(HttpUnavailableError):
            await client.get("/echo", params={"key": key})
        assert trace.get_current_span() is outer
    types = [dict(s.attributes or {}).get("error.type") for s in raw.finished()]
    assert types == ["httpx.ReadTimeout", "httpx.RemoteProtocolError", "internal_http.HttpUnavailableError"]
    assert all(s.status.status_code is StatusCode.ERROR for s in raw.finished())


async def test_a_hundred_concurrent_calls_in_one_task_group(
    base_url: str, app: ProgrammableApp, raw: Raw
) -> None:
    """100 calls in one task group: 100 spans, each server request parented by its own span."""
    keys = [f"tg-{index}-{id(raw)}" for index in range(100)]
    async with create_client(HttpSettings(base_url=base_url)) as client, anyio.create_task_group() as group:
        for k in keys:
            group.start_soon(functools.partial(client.get, "/echo", params={"key": k}))
    spans = raw.finished()
    assert len(spans) == 100
    by_key = {str(dict(s.attributes or {})["url.full"]).rsplit("key=", 1)[1]: s for s in spans}
    assert len({_span_id(s) for s in spans}) == 100
    for k in keys:
        assert app.seen_headers[k][0]["traceparent"].split("-")[2] == _span_id(by_key[k])


async def test_every_entry_point_is_traced_once(
    base_url: str, key: str, app: ProgrammableApp, raw: Raw
) -> None:
    """send, stream, request with a prebuilt Request, hooks, mounts= and a user transport: one span each."""
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.headers.get("traceparent", ""))

    mounted = httpx.AsyncHTTPTransport()
    async with create_client(
        HttpSettings(base_url=base_url),
        transport=httpx.AsyncHTTPTransport(),
        event_hooks={"request": [hook]},
        mounts={"http://localhost": mounted},
    ) as client:
        assert isinstance(client, httpx.AsyncClient)
        await client.send(client.build_request("GET", "/echo", params={"key": key}))
        async with client.stream("GET", "/echo", params={"key": key}) as response:
            await response.aread()
        await client.request("GET", "/echo", params={"key": key})
        host = httpx.URL(base_url)
        await client.get(f"http://localhost:{host.port}/echo", params={"key": key})
    spans = raw.finished()
    assert len(spans) == 4
    assert [h.split("-")[2] for h in seen] == [_span_id(s) for s in spans]
    assert [h["traceparent"].split("-")[2] for h in app.seen_headers[key]] == [_span_id(s) for s in spans]


async def test_uninstrument_and_reinstrument_while_calls_are_in_flight(
    base_url: str, key: str, app: ProgrammableApp, raw: Raw
) -> None:
    """A call in flight when telemetry is switched off or moved ends its span where it began."""
    async with create_client(HttpSettings(base_url=base_url)) as client, anyio.create_task_group() as group:
        group.start_soon(functools.partial(client.get, "/slow", params={"key": key, "seconds": "1"}))
        with anyio.fail_after(30):
            while app.in_flight[key] == 0:
                await asyncio.sleep(0.01)
        uninstrument()
        other = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(other))
        instrument(tracer_provider=provider)
    assert len(raw.finished()) == 1
    assert other.get_finished_spans() == ()


async def test_a_second_configure_telemetry_switches_the_providers(base_url: str, key: str) -> None:
    """instrument() follows current_telemetry(): after another configuration, spans go there."""
    first = configure_telemetry(service_name="review-first", exporter="memory")
    instrument()
    try:
        second = configure_telemetry(service_name="review-second", exporter="memory")
        async with create_client(HttpSettings(base_url=base_url)) as client:
            await client.get("/echo", params={"key": key})
        assert first.span_exporter is not None
        assert second.span_exporter is not None
        names = [
            s.instrumentation_scope.name
            for s in second.span_exporter.get_finished_spans()
            if s.instrumentation_scope
        ]
        assert names == ["internal_http"]
        assert [
            s
            for s in first.span_exporter.get_finished_spans()
            if s.instrumentation_scope and s.instrumentation_scope.name == "internal_http"
        ] == []
    finally:
        uninstrument()


async def test_an_exception_naming_the_url_masks_auth_query_keys(base_url: str, key: str, raw: Raw) -> None:
    """raise_for_status in a response hook: its message names the URL the auth flows completed."""

    async def check(response: httpx.Response) -> None:
        response.raise_for_status()

    url = httpx.URL(base_url)
    auth = ApiKeyAuth("hook-secret-11", query_param="review_hook_key")
    async with create_client(HttpSettings(), auth=auth, event_hooks={"response": [check]}) as client:
        for target in (base_url, f"http://lone-secret-12@{url.host}:{url.port}"):
            with pytest.raises(httpx.HTTPStatusError) as raised:
                await client.get(f"{target}/flaky", params={"key": key, "fail": "9", "status": "404"})
            assert "secret-1" in str(raised.value)  # the leak this test guards against is real
        with pytest.raises(httpx.HTTPStatusError) as raised:
            await client.get(f"{base_url}/flaky?key={key}&fail=9&status=404&%61pi_key=enc-secret-13")
        assert "enc-secret-13" in str(raised.value)
    text = _everything(raw)
    assert "hook-secret-11" not in text
    assert "lone-secret-12" not in text
    assert "enc-secret-13" not in text


async def test_a_no_op_tracer_provider_keeps_the_callers_trace(
    base_url: str, key: str, app: ProgrammableApp, raw: Raw
) -> None:
    """Instrumented with a provider that records nothing, the caller's traceparent still goes out."""
    tracer = raw.tracer_provider.get_tracer("review")
    instrument(tracer_provider=trace.NoOpTracerProvider())
    async with create_client(HttpSettings(base_url=base_url)) as client:
        with tracer.start_as_current_span("caller") as caller:
            response = await client.get("/echo", params={"key": key})
    sent = response.json()["headers"].get("traceparent", "")
    assert sent.split("-")[1:3] == [
        format(caller.get_span_context().trace_id, "032x"),
        format(caller.get_span_context().span_id, "016x"),
    ]


class _Unprintable(Exception):
    """An exception whose str() itself fails."""

    def __str__(self) -> str:
        raise ValueError("str() failed")


class _FailingAuth(httpx.Auth):
    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise _Unprintable()
        yield request  # type: ignore[unreachable]  # pragma: no cover


async def test_an_exception_that_cannot_be_printed_still_reaches_the_caller(base_url: str, raw: Raw) -> None:
    """Recording the failure never replaces it: the caller gets its own exception, the span ends failed."""
    async with create_client(HttpSettings(base_url=base_url), auth=_FailingAuth()) as client:
        with pytest.raises(_Unprintable):
            await client.get("/echo")
    (span,) = raw.finished()
    assert span.status.status_code is StatusCode.ERROR
    assert str(dict(span.attributes or {})["error.type"]).endswith("_Unprintable")
    assert len(raw.points()) == 1


class _EchoingAuth(httpx.Auth):
    """A custom auth whose failure message repeats the bare token it sent."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-Review-Token"] = "bare-secret-14"
        request.url = request.url.copy_merge_params({"review_q": "bare-secret-15"})
        response = yield request
        raise RuntimeError(f"server refused ({response.status_code}): bare-secret-14 / bare-secret-15")


async def test_a_custom_auth_token_repeated_bare_in_an_exception_is_masked(
    base_url: str, key: str, raw: Raw
) -> None:
    """Values a custom auth set (header and query) are masked wherever the exception text repeats them."""
    async with create_client(HttpSettings(base_url=base_url), auth=_EchoingAuth()) as client:
        with pytest.raises(RuntimeError, match="bare-secret-14"):
            await client.get("/protected", params={"key": key})
    text = _everything(raw)
    assert "bare-secret-14" not in text
    assert "bare-secret-15" not in text


async def test_a_per_request_custom_auth_is_masked_like_the_clients(
    base_url: str, key: str, raw: Raw, no_wait: testing
) -> None:
    """auth= on one call or set on client.auth later: its tokens are masked in attempt events too."""
    settings = HttpSettings(
        base_url=base_url, resilience=HttpResilienceSettings(retry=RetryConfig(attempts=3))
    )
    async with create_client(settings) as client:
        response = await client.get("/flaky", params={"key": key, "fail": "1"}, auth=_CustomTokenAuth())
        assert response.status_code == 200
        client.auth = _CustomTokenAuth()
        response = await client.get("/flaky", params={"key": key + "b", "fail": "1"})
        assert response.status_code == 200

        def sign(request: httpx.Request) -> httpx.Request:
            request.url = request.url.copy_merge_params({"review_fn": "custom-secret-16"})
            return request

        response = await client.get("/flaky", params={"key": key + "c", "fail": "1"}, auth=sign)
        assert response.status_code == 200
        assert response.request.url.params["review_fn"] == "custom-secret-16"
    assert len(raw.finished()) == 3
    assert all(len(span.events) == 2 for span in raw.finished())
    text = _everything(raw)
    assert "custom-secret-8" not in text
    assert "custom-secret-16" not in text
    assert "review_sig=***" in text


class _BodyReadingAuth(httpx.Auth):
    """A challenge-response auth that reads the 401 body before answering it."""

    requires_response_body = True

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield request
        if response.status_code == 401:
            assert response.json() == {"error": "unauthorized"}  # needs the body read
            request.headers["Authorization"] = "Bearer body-secret-17"
            yield request


async def test_a_wrapped_auth_that_reads_the_response_body_still_works(
    base_url: str, key: str, app: ProgrammableApp, raw: Raw
) -> None:
    """The masking wrapper keeps requires_response_body, for create_client(auth=) and per call."""
    app.valid_credentials.add("Bearer body-secret-17")
    async with create_client(HttpSettings(base_url=base_url), auth=_BodyReadingAuth()) as client:
        assert (await client.get("/protected", params={"key": key})).status_code == 200
    async with create_client(HttpSettings(base_url=base_url)) as client:
        response = await client.get("/protected", params={"key": key}, auth=_BodyReadingAuth())
        assert response.status_code == 200
    assert "body-secret-17" not in _everything(raw)
    # Headers our own request hook adds between the flow's steps are not the strategy's secrets:
    # marked, they were registered process-wide and stripped from every cross-origin redirect.
    for name in ("traceparent", "x-correlation-id", "x-request-id"):
        assert not is_secret_key(name), name
