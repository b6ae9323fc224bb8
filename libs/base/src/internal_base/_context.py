"""Correlation context carried through every layer (contextvars).

Each asyncio task and each thread sees its own values: ``asyncio.create_task`` copies the
current context, and ``run_in_context`` / ``spawn`` do the same for threads and for tasks
that the commons libraries start themselves. ``bind`` adds keys that every log record of
the scope carries; they never leak into sibling tasks.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from types import MappingProxyType, TracebackType
from typing import Any, Final, ParamSpec, TypeVar, cast

from internal_base._propagation import carrier_value, extract_trace, inject_trace

CORRELATION_ID_HEADER: Final = "X-Correlation-ID"
REQUEST_ID_HEADER: Final = "X-Request-ID"
# Safe in headers and log lines: no spaces, quotes, separators or control characters.
_SAFE_ID: Final = re.compile(r"[A-Za-z0-9._:+=@/-]+")
# Longest ID a scope accepts: the largest max_length the HTTP middleware can be configured with.
_MAX_SCOPE_ID: Final = 1024

_P = ParamSpec("_P")
_T = TypeVar("_T")

_EMPTY: Final[Mapping[str, object]] = MappingProxyType({})
_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "commons_correlation_id", default=None
)
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("commons_request_id", default=None)
_bound: contextvars.ContextVar[Mapping[str, object]] = contextvars.ContextVar("commons_bound", default=_EMPTY)

# Attributes of logging.LogRecord (plus the ones the formatter adds) that bound keys may not shadow.
RESERVED_KEYS: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "correlation_id", "request_id", "trace_id", "span_id", "taskName"}
)
# Field names of the JSON record (internal_base.logging.JsonFormatter) that are not LogRecord attributes.
LOG_FIELDS: Final = frozenset({"timestamp", "level", "logger"})
_NOT_BINDABLE: Final = RESERVED_KEYS | LOG_FIELDS
# The scopes entered in the current context with their tokens, innermost last. A context
# variable rather than instance state, so one instance (a module-level ``@bind(...)``) can be
# entered by many tasks and threads at once: each exits with the tokens of its own context.
_entered: contextvars.ContextVar[tuple[tuple[object, list[contextvars.Token[Any]]], ...]] = (
    contextvars.ContextVar("commons_entered_scopes", default=())
)


def get_correlation_id() -> str | None:
    """Return the correlation ID of the current context, or None outside any scope."""
    return _correlation_id.get()


def get_request_id() -> str | None:
    """Return the request ID of the current context, or None outside any scope."""
    return _request_id.get()


def new_correlation_id() -> str:
    """Generate a fresh correlation ID (32 lowercase hex characters)."""
    return uuid.uuid4().hex


def is_valid_correlation_id(value: str | None, *, max_length: int = 128) -> bool:
    """Tell whether an incoming correlation or request ID may be reused as is.

    The one rule for every carrier (HTTP headers, SQS message attributes ...): 1..``max_length``
    characters of ``A-Z a-z 0-9 . _ : + = @ / -``. No spaces, quotes or control characters, so
    the ID is safe in headers and cannot forge log lines.

    Args:
        value: The incoming ID (None or a non-string is refused).
        max_length: Longest accepted ID.

    Returns:
        True when the ID may be reused.
    """
    return isinstance(value, str) and 0 < len(value) <= max_length and _SAFE_ID.fullmatch(value) is not None


def bound_keys() -> dict[str, object]:
    """Return a copy of the keys bound in the current context."""
    return dict(_bound.get())


class _Scope:
    """Base for the sync + async context managers that set contextvars and restore them on exit.

    Reentrant and shareable: the same instance may be entered again, and by concurrent tasks
    or threads, because the tokens live in the entering context, not on the instance.
    """

    def _set(self) -> list[contextvars.Token[Any]]:
        raise NotImplementedError

    def __enter__(self) -> _Scope:
        tokens = self._set()
        _entered.set((*_entered.get(), (self, tokens)))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        entered = _entered.get()
        index = next((i for i in range(len(entered) - 1, -1, -1) if entered[i][0] is self), None)
        if index is None:
            raise RuntimeError(f"{type(self).__name__} exited in a context that did not enter it")
        _entered.set(entered[:index] + entered[index + 1 :])
        for token in reversed(entered[index][1]):
            token.var.reset(token)

    async def __aenter__(self) -> _Scope:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


class correlation_scope(_Scope):
    """Set the correlation (and optionally request) ID for a block; restore the previous ones on exit.

    Usable as ``with`` and ``async with``. A None (or empty) correlation ID generates a new one.

    Args:
        correlation_id: The ID to use, or None to generate one.
        request_id: The request ID to use, or None to leave the current one unchanged.

    Raises:
        ValueError: An ID with characters outside ``A-Z a-z 0-9 . _ : + = @ / -`` or longer
            than 1024 characters (it would reach headers and log lines as is). Validate
            untrusted IDs with :func:`is_valid_correlation_id` first.
    """

    def __init__(self, correlation_id: str | None = None, request_id: str | None = None) -> None:
        for kind, value in (("correlation ID", correlation_id), ("request ID", request_id)):
            if value and not is_valid_correlation_id(value, max_length=_MAX_SCOPE_ID):
                text = str(value)
                shown = repr(text[:40]) + ("..." if len(text) > 40 else "")
                rule = f"1..{_MAX_SCOPE_ID} characters of A-Z a-z 0-9 . _ : + = @ / -"
                raise ValueError(f"invalid {kind} {shown}: use {rule}")
        self.correlation_id = correlation_id or new_correlation_id()
        self.request_id = request_id

    def _set(self) -> list[contextvars.Token[Any]]:
        tokens: list[contextvars.Token[Any]] = [_correlation_id.set(self.correlation_id)]
        if self.request_id is not None:
            tokens.append(_request_id.set(self.request_id))
        return tokens

    def __enter__(self) -> correlation_scope:
        super().__enter__()
        return self

    async def __aenter__(self) -> correlation_scope:
        return self.__enter__()


class bind(_Scope):
    """Bind extra keys that every log record in the block carries.

    Usable as ``with``, ``async with`` and as a decorator of functions and coroutine functions.
    Keys are added to those already bound and removed on exit; other tasks never see them. One
    instance may be shared, e.g. a module-level ``@bind(job="nightly")`` on a coroutine function
    called by many tasks at once.

    Raises:
        ValueError: A key would overwrite a field of the log record (``level``, ``timestamp``,
            ``logger``, ``message``, ``correlation_id``, ``name`` ... any ``LogRecord`` attribute),
            or starts with ``_`` (never emitted by the formatters).
    """

    def __init__(self, **keys: object) -> None:
        clash = [key for key in keys if key in _NOT_BINDABLE]
        if clash:
            raise ValueError(f"cannot bind reserved log record keys: {', '.join(clash)}")
        private = [key for key in keys if key.startswith("_")]
        if private:
            raise ValueError(
                f"cannot bind keys starting with '_' (they are never logged): {', '.join(private)}"
            )
        self.keys = keys

    def _set(self) -> list[contextvars.Token[Any]]:
        return [_bound.set(MappingProxyType({**_bound.get(), **self.keys}))]

    def __call__(self, fn: Callable[_P, _T]) -> Callable[_P, _T]:
        """Decorate ``fn`` so that every call runs with the keys bound.

        Raises:
            TypeError: ``fn`` is a generator or async generator function (its body runs after
                the call returns, so the keys could not follow it).
        """
        if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            raise TypeError(f"bind cannot decorate the generator function {fn.__qualname__}")
        if is_async_callable(fn):
            async_fn = cast(Callable[..., Awaitable[Any]], fn)

            @functools.wraps(fn)
            async def run_async(*args: _P.args, **kwargs: _P.kwargs) -> Any:
                with self:
                    return await async_fn(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            with self:
                return fn(*args, **kwargs)

        return run


def is_async_callable(fn: object) -> bool:
    """A coroutine function, or an object whose ``__call__`` is one (``async def __call__``)."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)


def run_in_context(fn: Callable[_P, _T]) -> Callable[_P, _T]:
    """Wrap ``fn`` so it runs in a copy of the *current* context (for threads and executors).

    Example:
        ``await loop.run_in_executor(None, run_in_context(blocking_call))``
    """
    ctx = contextvars.copy_context()

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        return ctx.copy().run(fn, *args, **kwargs)

    return wrapper


def spawn(coro: Coroutine[Any, Any, _T], *, name: str | None = None) -> asyncio.Task[_T]:
    """Start a task that carries a copy of the current correlation context."""
    return asyncio.get_running_loop().create_task(coro, name=name, context=contextvars.copy_context())


def inject_context(carrier: MutableMapping[str, str]) -> None:
    """Write the correlation ID, request ID and W3C ``traceparent``/``tracestate`` into ``carrier``."""
    correlation_id = _correlation_id.get()
    if correlation_id is not None:
        carrier[CORRELATION_ID_HEADER] = correlation_id
    request_id = _request_id.get()
    if request_id is not None:
        carrier[REQUEST_ID_HEADER] = request_id
    inject_trace(carrier)


@contextmanager
def extract_context(carrier: Mapping[str, str], *, max_length: int = 128) -> Iterator[correlation_scope]:
    """Restore the correlation ID, request ID and trace context found in ``carrier`` for a block.

    Header names are matched case-insensitively; bytes values (raw ASGI headers) are decoded,
    non-str keys and other values ignored, and a trace header longer than 8192 characters
    dropped. IDs are reused only when :func:`is_valid_correlation_id` accepts them. Without a
    valid correlation ID in the carrier a new one is generated, so every unit of work has one;
    an invalid request ID is replaced by a fresh one too (a missing one leaves the current
    request ID unchanged).

    Args:
        carrier: HTTP headers, SQS message attributes or any string mapping.
        max_length: Longest accepted ID (a caller with a larger limit, such as the HTTP
            middleware's ``max_length``, passes it here; at most 1024).

    Yields:
        The active ``correlation_scope``.
    """
    from opentelemetry import context as otel_context

    correlation_id = carrier_value(carrier, CORRELATION_ID_HEADER)
    request_id = carrier_value(carrier, REQUEST_ID_HEADER)
    limit = min(max_length, _MAX_SCOPE_ID)
    if request_id is not None and not is_valid_correlation_id(request_id, max_length=limit):
        request_id = uuid.uuid4().hex
    valid = is_valid_correlation_id(correlation_id, max_length=limit)
    scope = correlation_scope(correlation_id if valid else None, request_id)
    token = otel_context.attach(extract_trace(carrier))
    try:
        with scope:
            yield scope
    finally:
        otel_context.detach(token)
