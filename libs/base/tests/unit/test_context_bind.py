"""Tests for ``bind`` shared by concurrent tasks and threads, and its reserved keys."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from internal_base.context import bind, bound_keys, correlation_scope, get_correlation_id

SHARED = bind(job="nightly")


async def _inside(entered: asyncio.Event, go: asyncio.Event) -> dict[str, object]:
    async with SHARED:
        entered.set()
        await go.wait()
        return bound_keys()


async def test_one_instance_entered_by_concurrent_tasks() -> None:
    """One bind instance entered by overlapping tasks works in each, in any exit order."""
    go = asyncio.Event()
    first_in, second_in = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(_inside(first_in, go))
    await asyncio.wait_for(first_in.wait(), 10)
    second = asyncio.create_task(_inside(second_in, go))
    await asyncio.wait_for(second_in.wait(), 10)
    go.set()
    results = await asyncio.wait_for(asyncio.gather(first, second), 10)
    assert (list(results), bound_keys()) == ([{"job": "nightly"}] * 2, {})


async def test_tasks_exit_in_reverse_order_of_entry() -> None:
    """The task that entered first may exit first while the other is still inside."""
    first_in, second_in = asyncio.Event(), asyncio.Event()
    release_first, release_second = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(_inside(first_in, release_first))
    second = asyncio.create_task(_inside(second_in, release_second))
    await asyncio.wait_for(asyncio.gather(first_in.wait(), second_in.wait()), 10)
    release_first.set()
    done_first = await asyncio.wait_for(first, 10)
    release_second.set()
    done_second = await asyncio.wait_for(second, 10)
    assert (done_first, done_second) == ({"job": "nightly"}, {"job": "nightly"})


@bind(worker="decorated")
async def decorated_async(seen: asyncio.Event, go: asyncio.Event) -> dict[str, object]:
    """A coroutine function decorated with a module-level bind."""
    seen.set()
    await go.wait()
    return bound_keys()


async def test_decorator_on_coroutine_function_concurrently() -> None:
    """A module-level ``@bind(...)`` on a coroutine function works for concurrent calls."""
    go = asyncio.Event()
    events = [asyncio.Event() for _ in range(5)]
    tasks = [asyncio.create_task(decorated_async(event, go)) for event in events]
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in events)), 10)
    go.set()
    results = await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert results == [{"worker": "decorated"}] * 5


@bind(worker="sync")
def decorated_sync(barrier: threading.Barrier) -> dict[str, object]:
    """A plain function decorated with a module-level bind."""
    barrier.wait(10)
    return bound_keys()


def test_decorator_on_function_from_threads() -> None:
    """A module-level ``@bind(...)`` on a plain function works from overlapping threads."""
    barrier = threading.Barrier(4)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: decorated_sync(barrier), range(4)))
    assert results == [{"worker": "sync"}] * 4


def test_decorator_keeps_name_and_return_value() -> None:
    """The decorated function keeps its name and docstring."""
    assert (decorated_sync.__name__, decorated_async.__doc__) == (
        "decorated_sync",
        "A coroutine function decorated with a module-level bind.",
    )


def test_decorator_removes_keys_after_an_exception() -> None:
    """Keys bound by the decorator are gone after the function raises."""

    @bind(step="fails")
    def fails() -> None:
        raise RuntimeError("x")

    with pytest.raises(RuntimeError):
        fails()
    assert bound_keys() == {}


def test_nested_reentry_of_one_instance() -> None:
    """One instance entered twice in the same task restores each level in order."""
    outer = bind(a=1)
    with outer, bind(a=2), outer:
        inner = bound_keys()
    assert (inner, bound_keys()) == ({"a": 1}, {})


def test_correlation_scope_shared_by_threads() -> None:
    """One correlation_scope instance entered from overlapping threads works in each."""
    scope = correlation_scope("shared-cid")
    barrier = threading.Barrier(3)

    def work(_: int) -> str | None:
        with scope:
            barrier.wait(10)
            return get_correlation_id()

    with ThreadPoolExecutor(3) as pool:
        assert list(pool.map(work, range(3))) == ["shared-cid"] * 3


@pytest.mark.parametrize(
    "key",
    [
        "level",
        "timestamp",
        "logger",
        "message",
        "correlation_id",
        "request_id",
        "trace_id",
        "span_id",
        "levelname",
        "name",
        "msg",
        "args",
        "exc_info",
        "asctime",
        "taskName",
    ],
)
def test_bind_refuses_reserved_log_record_keys(key: str) -> None:
    """Keys that would overwrite a standard field of a log record are refused, named."""
    with pytest.raises(ValueError, match=f"reserved.*{key}"):
        bind(**{key: "x"})


def test_bind_refuses_private_keys() -> None:
    """Keys starting with an underscore, which the formatters never emit, are refused."""
    with pytest.raises(ValueError, match="_hidden"):
        bind(_hidden=1)


def test_bind_error_lists_every_reserved_key() -> None:
    """All offending keys are named at once."""
    with pytest.raises(ValueError, match="level, timestamp"):
        bind(level="x", timestamp="y", ok=1)


def test_bind_refuses_to_decorate_generators() -> None:
    """Decorating a generator function is refused (its body would run outside the scope)."""

    def numbers() -> Iterator[int]:
        yield 1

    with pytest.raises(TypeError, match="generator"):
        bind(x=1)(numbers)


def test_exit_without_enter_is_an_error() -> None:
    """Exiting a scope that the current context never entered is a clear error."""
    with pytest.raises(RuntimeError, match="did not enter"):
        bind(x=1).__exit__(None, None, None)


def test_bind_refuses_every_standard_field_of_the_json_formatter() -> None:
    """Every field the JSON formatter always writes is refused by bind (the lists stay in sync)."""
    from internal_base._log_format import STANDARD_FIELDS

    accepted = []
    for key in sorted(STANDARD_FIELDS):
        try:
            bind(**{key: "x"})
        except ValueError:
            continue
        accepted.append(key)
    assert accepted == []
