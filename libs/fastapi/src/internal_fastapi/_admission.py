"""Admission control: at most N requests run at once; the rest get an immediate 503.

Without it, an overloaded service queues every request: each waits for a pooled connection
(the pool timeout) or for the event loop, so clients see many-second latencies and the same 503s,
only late. A counter, not a semaphore: a request over the limit is answered at once, it never
waits in a queue. Health probes are never shed (a busy replica must not leave rotation).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Final

from starlette.responses import JSONResponse

from internal_fastapi._errors import ErrorMapper, OverloadedError, problem_response

__all__ = ["Admission"]

_log: Final = logging.getLogger("internal_fastapi.admission")


class Admission:
    """Counts the requests in flight and refuses those over ``limit``.

    Args:
        limit: Most requests handled at once (None: no limit).
        retry_after: Seconds sent in ``Retry-After`` with each refusal.
        exempt_paths: Exact paths never refused (health probes).
    """

    def __init__(
        self, limit: int | None, *, retry_after: int = 1, exempt_paths: Collection[str] = ()
    ) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"the concurrent-request limit must be at least 1 (or None), got {limit}")
        if retry_after < 0:
            raise ValueError(f"retry_after must be 0 or more seconds, got {retry_after}")
        self.limit = limit
        self.retry_after = retry_after
        self.exempt_paths = frozenset(exempt_paths)
        self.in_flight = 0
        self.refused = 0  # since shedding last ended (half the slots free)

    def enter(self, path: str) -> bool | None:
        """True: admitted (call :meth:`leave` when done); False: refused; None: not counted."""
        if self.limit is None or path in self.exempt_paths:
            return None
        if self.in_flight >= self.limit:
            if self.refused == 0:
                _log.warning(
                    "shedding load: %d requests in flight, the limit; new requests get 503 overloaded",
                    self.limit,
                    extra={"http_in_flight": self.in_flight},
                )
            self.refused += 1
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        """One admitted request is done."""
        self.in_flight -= 1
        # Ended once half the slots are free: at the edge of the limit it would flap, a line per request.
        if self.refused and self.limit is not None and self.in_flight <= self.limit // 2:
            refused = self.refused
            _log.warning("load shedding ended: %d requests refused", refused, extra={"http_refused": refused})
            self.refused = 0

    def refusal(self, mapper: ErrorMapper, path: str) -> JSONResponse:
        """The problem+json 503 for a refused request (no traceback logged: it is not an error)."""
        error = OverloadedError(
            f"the service is handling its limit of {self.limit} requests; retry later",
            headers={"Retry-After": str(self.retry_after)},
        )
        problem, headers = mapper.problem(error, instance=path)
        return problem_response(problem, headers=headers)
