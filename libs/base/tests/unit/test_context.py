"""Tests for the correlation context."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from internal_base.context import (
    CORRELATION_ID_HEADER,
    REQUEST_ID_HEADER,
    bind,
    bound_keys,
    correlation_scope,
    extract_context,
    get_correlation_id,
    get_request_id,
    inject_context,
    new_correlation_id,
    run_in_context,
    spawn,
)
from internal_base.telemetry import configure_telemetry, span


def test_no_correlation_id_outside_scope() -> None:
    """Outside any scope there is no correlation ID."""
    assert get_correlation_id() is None


def test_new_correlation_id_is_32_hex_chars() -> None:
    """Generated IDs are 32 lowercase hex characters and unique."""
    first, second = new_correlation_id(), new_correlation_id()
    assert len(first) == 32
    assert int(first, 16) >= 0
    assert first != second


def test_scope_sets_given_ids() -> None:
    """A scope exposes the IDs it was given."""
    with correlation_scope("cid-1", request_id="rid-1"):
        assert (get_correlation_id(), get_request_id()) == ("cid-1", "rid-1")


def test_scope_generates_id_when_none() -> None:
    """A scope without an ID generates one."""
    with correlation_scope() as scope:
        assert get_correlation_id() == scope.correlation_id
        assert len(scope.correlation_id) == 32


def test_scope_restores_previous_on_exit() -> None:
    """Nested scopes restore the outer ID on exit."""
    with correlation_scope("outer"):
        with correlation_scope("inner"):
            assert get_correlation_id() == "inner"
        assert get_correlation_id() == "outer"


def test_scope_restores_after_exception() -> None:
    """A scope left by an exception still restores the previous ID."""
    with pytest.raises(RuntimeError), correlation_scope("boom"):
        raise RuntimeError("x")
    assert get_correlation_id() is None


async def test_async_scope() -> None:
    """``async with correlation_scope`` works like the sync form."""
    async with correlation_scope("async-id"):
        assert get_correlation_id() == "async-id"
    assert get_correlation_id() is None


def test_scope_keeps_request_id_when_not_given() -> None:
    """A scope without a request ID leaves the current one in place."""
    with correlation_scope("a", "req"), correlation_scope("b"):
        assert get_request_id() == "req"


def test_bind_adds_and_removes_keys() -> None:
    """Bound keys are visible in the block and gone after it."""
    with bind(user="u1"):
        with bind(order=7):
            assert bound_keys() == {"user": "u1", "order": 7}
        assert bound_keys() == {"user": "u1"}
    assert bound_keys() == {}


async def test_async_bind() -> None:
    """``async with bind`` binds keys for the block."""
    async with bind(tenant="t"):
        assert bound_keys() == {"tenant": "t"}
    assert bound_keys() == {}


def test_bind_rejects_reserved_keys() -> None:
    """Keys that would shadow log record attributes are refused."""
    with pytest.raises(ValueError, match="message"):
        bind(message="x")


def test_bound_keys_returns_a_copy() -> None:
    """Mutating the returned dict does not change the context."""
    with bind(a=1):
        bound_keys()["b"] = 2
        assert bound_keys() == {"a": 1}


async def test_keys_do_not_leak_between_tasks() -> None:
    """Concurrent tasks each see only their own bound keys and IDs."""
    seen: dict[str, tuple[str | None, dict[str, object]]] = {}

    async def worker(name: str) -> None:
        async with correlation_scope(name), bind(worker=name):
            await asyncio.sleep(0)
            seen[name] = (get_correlation_id(), bound_keys())

    await asyncio.gather(worker("a"), worker("b"))
    assert seen == {"a": ("a", {"worker": "a"}), "b": ("b", {"worker": "b"})}


def test_threads_do_not_share_context() -> None:
    """A plain new thread starts without the caller's correlation ID."""
    result: list[str | None] = []
    with correlation_scope("main"):
        thread = threading.Thread(target=lambda: result.append(get_correlation_id()))
        thread.start()
        thread.join()
    assert result == [None]


def test_run_in_context_carries_context_into_threads() -> None:
    """``run_in_context`` carries the caller's context into an executor thread."""
    with correlation_scope("carried"), bind(k="v"), ThreadPoolExecutor(1) as pool:
        value = pool.submit(run_in_context(lambda: (get_correlation_id(), bound_keys()))).result()
    assert value == ("carried", {"k": "v"})


async def test_spawn_copies_context() -> None:
    """Tasks started with ``spawn`` see the context of the caller at spawn time."""

    async def read() -> str | None:
        return get_correlation_id()

    async with correlation_scope("spawned"):
        task = spawn(read(), name="reader")
    assert await task == "spawned"


async def test_spawned_task_changes_do_not_leak_back() -> None:
    """A scope entered inside a spawned task does not change the caller."""

    async def change() -> None:
        async with correlation_scope("child"):
            await asyncio.sleep(0)

    async with correlation_scope("parent"):
        await spawn(change())
        assert get_correlation_id() == "parent"


def test_inject_context_writes_ids() -> None:
    """Injection writes the correlation and request ID headers."""
    carrier: dict[str, str] = {}
    with correlation_scope("c1", "r1"):
        inject_context(carrier)
    assert carrier == {CORRELATION_ID_HEADER: "c1", REQUEST_ID_HEADER: "r1"}


def test_inject_context_without_scope_writes_nothing() -> None:
    """Outside any scope and span, nothing is injected."""
    carrier: dict[str, str] = {}
    inject_context(carrier)
    assert carrier == {}


def test_inject_context_writes_traceparent_inside_span() -> None:
    """Inside a span, injection adds a W3C traceparent."""
    configure_telemetry(service_name="ctx-test", exporter="memory", set_global=False)
    carrier: dict[str, str] = {}
    with span("outer") as current:
        inject_context(carrier)
        trace_id = format(current.get_span_context().trace_id, "032x")
    assert carrier["traceparent"].split("-")[1] == trace_id


def test_extract_context_restores_ids() -> None:
    """Extraction restores IDs found in the carrier, case-insensitively."""
    with extract_context({"x-correlation-id": "from-wire", "X-Request-ID": "req-9"}):
        assert (get_correlation_id(), get_request_id()) == ("from-wire", "req-9")
    assert get_correlation_id() is None


def test_extract_context_generates_missing_id() -> None:
    """Without a correlation ID in the carrier, a new one is generated."""
    with extract_context({}) as scope:
        assert get_correlation_id() == scope.correlation_id is not None


def test_round_trip_restores_trace() -> None:
    """A carrier injected in one span restores the same trace on extraction."""
    configure_telemetry(service_name="ctx-test", exporter="memory", set_global=False)
    carrier: dict[str, str] = {}
    with correlation_scope("rt"), span("producer") as producer:
        inject_context(carrier)
        trace_id = producer.get_span_context().trace_id
    with extract_context(carrier), span("consumer") as consumer:
        assert (get_correlation_id(), consumer.get_span_context().trace_id) == ("rt", trace_id)
