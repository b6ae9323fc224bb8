"""The one place commons libraries wait: ``sleep``, ``with_timeout`` and the ``testing`` switch."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable
from types import TracebackType
from typing import ClassVar, TypeVar

_T = TypeVar("_T")


class testing:
    """Turn off every wait done through ``sleep`` (and so retry backoff) while active.

    Process-wide (it must also reach threads and tasks started elsewhere); nesting is allowed
    and the innermost switch wins. Requested delays are recorded in ``sleeps`` so tests can
    assert on backoff without patching anything.

    Args:
        wait: True to still really wait (only record); False (default) to return at once.

    Example:
        ``with testing() as t: await policy.call(flaky)`` then ``assert len(t.sleeps) == 2``.
    """

    _lock: ClassVar[threading.Lock] = threading.Lock()
    _stack: ClassVar[list[testing]] = []

    def __init__(self, *, wait: bool = False) -> None:
        self.wait = wait
        self.sleeps: list[float] = []

    @classmethod
    def current(cls) -> testing | None:
        """Return the innermost active switch, or None outside testing mode."""
        stack = cls._stack
        return stack[-1] if stack else None

    def __enter__(self) -> testing:
        with self._lock:
            self._stack.append(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._stack.remove(self)

    async def __aenter__(self) -> testing:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


async def sleep(seconds: float) -> None:
    """Wait ``seconds`` (negative counts as 0), or only yield to the loop in ``testing()`` mode."""
    mode = testing.current()
    if mode is not None:
        mode.sleeps.append(seconds)
        if not mode.wait:
            await asyncio.sleep(0)
            return
    await asyncio.sleep(max(0.0, seconds))


async def with_timeout(awaitable: Awaitable[_T], seconds: float | None) -> _T:
    """Await ``awaitable`` for at most ``seconds`` (None: no limit).

    Raises:
        TimeoutError: The limit expired (the awaitable is cancelled); the message gives the limit.
        ValueError: ``seconds`` is not positive.
    """
    if seconds is None:
        return await awaitable
    if seconds <= 0:
        if inspect.iscoroutine(awaitable):
            awaitable.close()
        raise ValueError(f"timeout must be positive, got {seconds!r}")
    manager = asyncio.timeout(seconds)
    try:
        async with manager:
            return await awaitable
    except TimeoutError as exc:
        if manager.expired():
            raise TimeoutError(f"timed out after {seconds:g}s") from exc
        raise
