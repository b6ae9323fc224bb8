"""``RetryTransport``: retries, ``Retry-After``, per-host circuit breakers and logging.

It wraps any ``httpx.AsyncBaseTransport``. The success path is one origin check, one breaker
enter/exit, one status-set lookup and (only when DEBUG is enabled) one log line; the retry
machinery runs only after a failure. Waits come from internal_base's ``Backoff`` (or a capped
``Retry-After``) and go through ``internal_base.resilience.sleep``, so ``testing()`` skips them.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from internal_base.errors import CircuitOpenError
from internal_base.redaction import redact_text
from internal_base.resilience import CircuitBreaker, sleep

from ._config import BreakerConfig, RetryConfig, unsendable_header_value
from ._errors import HttpUnavailableError
from ._logging import log_exception, log_response, logger
from ._origin import bind_to_origin
from ._telemetry import CALL_EXTENSION, TelemetryCall

__all__ = [
    "ATTEMPTS_EXTENSION",
    "HOST_FAILURE_EXCEPTIONS",
    "IDEMPOTENCY_KEY_HEADER",
    "RETRYABLE_EXCEPTIONS",
    "RETRY_EXTENSION",
    "BreakerRegistry",
    "RetryTransport",
    "host_name",
    "parse_retry_after",
]

#: Header whose presence makes a non-idempotent request retryable.
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
#: ``request.extensions`` key: ``True`` forces retries for this request, ``False`` disables them.
RETRY_EXTENSION = "internal_http.retry"
#: ``response.extensions`` key holding the number of attempts that produced the response.
ATTEMPTS_EXTENSION = "internal_http.attempts"
#: Transport failures that are retried (connect errors, timeouts, dropped connections).
RETRYABLE_EXCEPTIONS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)
#: Failures the host caused (refused, unreachable, silent or hung-up connections); only these
#: and 5xx answers count toward opening its breaker. Everything else raised while sending
#: (``PoolTimeout``, ``LocalProtocolError``, ``UnsupportedProtocol``, an error from the caller's
#: body generator) happened on this side and says nothing about the host.
HOST_FAILURE_EXCEPTIONS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)

_DEBUG = logging.DEBUG
_WARNING = logging.WARNING


_HostKey = tuple[str, str, int | None]


def _host_key(url: httpx.URL) -> _HostKey:
    return (url.scheme, url.host, url.port)


def host_name(url: httpx.URL) -> str:
    """``scheme://host[:port]`` of ``url``: what names its breaker, health check and errors.

    An IPv6 address keeps its brackets (``http://[::1]:8080``), so the name is a URL again.
    """
    return f"{url.scheme}://{url.netloc.decode('ascii')}"  # netloc: no userinfo, default port dropped


class BreakerRegistry:
    """Lazily creates one :class:`internal_base.resilience.CircuitBreaker` per host.

    Each breaker is named ``http:<scheme>://<host>[:<port>]`` and built from ``config`` (the
    ``resilience.breaker`` section: threshold, reset timeout, half-open probes).
    """

    def __init__(self, config: BreakerConfig | None = None) -> None:
        """Create an empty registry whose breakers use ``config`` (defaults when ``None``).

        Raises:
            ValueError: ``config.failure_threshold`` is 0 (breakers off: pass no registry instead).
        """
        self._config = config if config is not None else BreakerConfig()
        if self._config.failure_threshold < 1:
            raise ValueError("BreakerRegistry needs failure_threshold >= 1 (0 turns breakers off)")
        self._breakers: dict[_HostKey, CircuitBreaker] = {}

    def for_url(self, url: httpx.URL) -> CircuitBreaker:
        """Return the breaker of ``url``'s scheme, host and port, creating it on first use."""
        key = _host_key(url)
        breaker = self._breakers.get(key)
        if breaker is None:
            config = self._config
            breaker = CircuitBreaker(
                f"http:{host_name(url)}",
                failure_threshold=config.failure_threshold,
                reset_timeout=config.reset_timeout,
                half_open_probes=config.half_open_probes,
            )
            self._breakers[key] = breaker
        return breaker

    def get(self, url: httpx.URL) -> CircuitBreaker | None:
        """The breaker of ``url``'s host, or ``None`` if that host was never called."""
        return self._breakers.get(_host_key(url))

    def __len__(self) -> int:
        """Return how many hosts have a breaker."""
        return len(self._breakers)

    def __repr__(self) -> str:
        """Show the hosts and their breaker states."""
        states = {b.name: b.state for b in self._breakers.values()}
        return f"BreakerRegistry({states!r})"


# RFC 9110 delay-seconds (ASCII digits; a decimal fraction is accepted, as some servers send one).
# Anything else ("-1", "1e3", "1_0", non-ASCII digits) is no request at all: the backoff applies.
_DELAY_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Return the wait a ``Retry-After`` header asks for, in seconds (``None`` if absent/invalid).

    Valid: delay-seconds (ASCII digits, optionally a decimal fraction) or an HTTP date (a past
    date is 0). A negative number, an exponent or any other text is invalid, so the caller's
    backoff applies instead of an immediate retry.

    Args:
        value: Delay in seconds or an HTTP date.
        now: Reference time for HTTP dates (defaults to the current UTC time).
    """
    if not value:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


#: Bytes of a retried answer's body read so its connection can be reused; a longer body is cut off
#: (the connection is closed instead): an error page of any size must not cost memory or time.
_DRAIN_LIMIT = 65536


def _check_header_values(request: httpx.Request) -> None:
    """Refuse a request whose header value cannot be sent, naming the header, never the value.

    h11 refuses such a value with the value itself in its message (``Illegal header value
    b'<the key>'``), which would carry a credential read with its trailing newline into every
    traceback and httpcore's DEBUG line; checked first, the message names the header instead.

    Raises:
        httpx.LocalProtocolError: As h11 would, before anything is sent or logged.
    """
    for name, value in request.headers.raw:
        if unsendable_header_value(value):
            shown = name.decode("latin-1")
            raise httpx.LocalProtocolError(
                f"header {shown!r} has a value HTTP cannot send (NUL, a line break, or whitespace at "
                "either end); its value is not shown",
                request=request,
            )


async def _discard(response: httpx.Response) -> None:
    """Close a response that will be retried, draining at most 64 KiB of its body."""
    try:
        if response.is_stream_consumed:  # read already (e.g. by a MockTransport): nothing to drain
            return
        drained = 0
        async for chunk in response.aiter_raw():
            drained += len(chunk)
            if drained > _DRAIN_LIMIT:
                break
    except httpx.HTTPError:
        pass
    finally:
        await response.aclose()


class _Attempts:
    """What the attempts of one call saw: the last failure at the host, if any."""

    __slots__ = ("host_error",)

    def __init__(self) -> None:
        self.host_error: str | None = None

    @property
    def host_failed(self) -> bool:
        """Whether an attempt failed at the host."""
        return self.host_error is not None


class RetryTransport(httpx.AsyncBaseTransport):
    """Wraps a transport with safe retries, per-host circuit breakers and redacted logs.

    Retried: connect errors, timeouts, dropped connections and the configured statuses
    (429/502/503/504), for idempotent methods, requests with an ``Idempotency-Key``, or when
    opted in (``RetryConfig.retry_non_idempotent`` or ``extensions={RETRY_EXTENSION: True}``).
    A request whose body is a one-shot stream is never retried. Waits follow the
    ``retry.backoff`` schedule (internal_base's ``Backoff``: exponential, full jitter), or
    ``Retry-After`` capped at ``retry_after_cap``; everything stops at ``attempts`` or when the
    next wait would overrun ``total_timeout``.

    Every hop, redirects included, goes through :func:`internal_http._origin.bind_to_origin`:
    a redirect to another origin is sent without the credentials of the first.
    """

    def __init__(
        self,
        wrapped: httpx.AsyncBaseTransport | None = None,
        *,
        retry: RetryConfig | None = None,
        timeout: float | None = None,
        breaker_registry: BreakerRegistry | None = None,
        log_headers: bool = False,
    ) -> None:
        """Wrap ``wrapped`` (a new ``httpx.AsyncHTTPTransport`` when ``None``).

        Args:
            wrapped: The transport that does the I/O.
            retry: Retry settings, ``resilience.retry`` (defaults when ``None``).
            timeout: Seconds each attempt may take up to the response headers, ``resilience.timeout``
                (``None``: no bound beyond httpx's per-phase timeouts); an overrun is an
                ``httpx.ReadTimeout``.
            breaker_registry: Per-host breakers; ``None`` disables circuit breaking.
            log_headers: Also log (redacted) request and response headers at DEBUG.

        Raises:
            ValueError: ``timeout`` is not a finite number > 0.
        """
        if timeout is not None and not (isinstance(timeout, int | float) and 0 < timeout < math.inf):
            raise ValueError(f"timeout must be a finite number of seconds > 0 or None, got {timeout!r}")
        self._wrapped = wrapped if wrapped is not None else httpx.AsyncHTTPTransport()
        self._retry = retry if retry is not None else RetryConfig()
        self._backoff = self._retry.backoff.to_backoff()
        self._timeout = timeout
        self._breakers = breaker_registry
        self._log_headers = log_headers
        # Last failure each host caused, for hosts whose last call failed there (health checks).
        self._host_errors: dict[_HostKey, str] = {}
        self._on_close: list[Callable[[], None]] = []

    @property
    def wrapped(self) -> httpx.AsyncBaseTransport:
        """The transport doing the I/O."""
        return self._wrapped

    @property
    def retry(self) -> RetryConfig:
        """The retry settings."""
        return self._retry

    @property
    def breakers(self) -> BreakerRegistry | None:
        """The per-host breaker registry (``None`` when disabled)."""
        return self._breakers

    def last_error(self, url: httpx.URL) -> str | None:
        """The failure (redacted) that ended the last call to ``url``'s host, if that call failed there.

        ``None`` when the host was never called or its last call got an answer below 500.
        """
        return self._host_errors.get(_host_key(url))

    def _retry_allowed(self, request: httpx.Request) -> bool:
        forced = request.extensions.get(RETRY_EXTENSION)
        if forced is not None:
            return bool(forced)
        return (
            request.method in self._retry.methods
            or self._retry.retry_non_idempotent
            or IDEMPOTENCY_KEY_HEADER in request.headers
        )

    def _unavailable(self, request: httpx.Request, exc: CircuitOpenError) -> HttpUnavailableError:
        url = request.url
        return HttpUnavailableError(host_name(url), exc.retry_after, last_error=self.last_error(url))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``, retrying as configured; returns the final response.

        The host's breaker admits the call once and records one outcome for it, however many
        attempts it took: a failure when the final answer is a 5xx or a host failure
        (:data:`HOST_FAILURE_EXCEPTIONS`) ended it, or when a local error or a cancellation (the
        caller's deadline) ended a call whose earlier attempts had failed at the host; a success
        when the host answered below 500. A local error alone (a full pool, an unsendable header,
        a body generator that raised, a cancellation) is no verdict on the host and does not count.

        Raises:
            HttpUnavailableError: The host's breaker is open; nothing was sent.
        """
        bind_to_origin(request)
        _check_header_values(request)
        breaker = None if self._breakers is None else self._breakers.for_url(request.url)
        if breaker is not None:
            try:
                await breaker.__aenter__()  # fails fast without touching the network
            except CircuitOpenError as exc:
                raise self._unavailable(request, exc) from exc
        attempts = _Attempts()
        try:
            response = await self._send(request, attempts)
        except BaseException as exc:
            # The host's failure stands even when the caller then gave up (a cancellation, a deadline,
            # a local error while retrying): callers with short deadlines must still open the breaker.
            if isinstance(exc, HOST_FAILURE_EXCEPTIONS):
                attempts.host_error = f"{type(exc).__name__}: {exc}"
            if attempts.host_error is not None:
                self._host_failed(request.url, attempts.host_error)
                if breaker is not None:
                    breaker.record_failure()
            if breaker is not None:
                # No verdict unless a failure was recorded: a local error says nothing about the host.
                breaker.release()
                await breaker.__aexit__(None, None, None)
            raise
        if response.status_code >= 500:
            self._host_failed(request.url, f"HTTP {response.status_code} {response.reason_phrase}")
            if breaker is not None:
                breaker.record_failure()
        elif self._host_errors:
            self._host_errors.pop(_host_key(request.url), None)
        if breaker is not None:
            await breaker.__aexit__(None, None, None)  # a success unless a failure was recorded
        return response

    def _host_failed(self, url: httpx.URL, description: str) -> None:
        self._host_errors[_host_key(url)] = redact_text(description)[:500]

    async def _bounded_attempt(self, request: httpx.Request, timeout: float) -> httpx.Response:
        """One attempt, bounded by ``timeout`` seconds up to the response headers."""
        try:
            async with asyncio.timeout(timeout):
                return await self._wrapped.handle_async_request(request)
        except TimeoutError as exc:
            raise httpx.ReadTimeout(
                f"no response within {timeout:g}s (resilience.timeout)", request=request
            ) from exc

    async def _send(self, request: httpx.Request, attempts: _Attempts) -> httpx.Response:
        """The retry loop; notes in ``attempts`` whether an attempt failed at the host."""
        statuses = self._retry.statuses
        replayable = isinstance(request.stream, httpx.ByteStream)  # before a send consumes it
        call: TelemetryCall | None = request.extensions.get(CALL_EXTENSION)  # set when instrumented
        attempt = 1
        first_started: float | None = None  # monotonic start of attempt 1, set after a failure
        waited = 0.0  # total wait asked for (counts even when testing() skips it)
        while True:
            started = time.perf_counter()
            try:
                if self._timeout is None:
                    response = await self._wrapped.handle_async_request(request)
                else:
                    response = await self._bounded_attempt(request, self._timeout)
            except RETRYABLE_EXCEPTIONS as exc:
                duration = time.perf_counter() - started
                if isinstance(exc, HOST_FAILURE_EXCEPTIONS):
                    attempts.host_error = f"{type(exc).__name__}: {exc}"
                if logger.isEnabledFor(_WARNING):
                    log_exception(request, exc, attempt=attempt, duration=duration)
                if first_started is None:
                    first_started = time.monotonic() - duration
                wait = self._next_wait(request, attempt, None, first_started, waited, replayable)
                if call is not None:
                    call.attempt(request, attempt, duration, error=exc, retry_in=wait)
                if wait is None:
                    raise
                await sleep(wait)
                waited += wait
                attempt += 1
                continue
            except BaseException as exc:  # not retried: a local error, a cancellation
                if call is not None:
                    call.attempt(request, attempt, time.perf_counter() - started, error=exc)
                raise
            duration = time.perf_counter() - started
            status = response.status_code
            if status not in statuses:
                if logger.isEnabledFor(_DEBUG):
                    log_response(
                        request, response, attempt=attempt, duration=duration, log_headers=self._log_headers
                    )
                response.extensions[ATTEMPTS_EXTENSION] = attempt
                if call is not None:
                    call.attempt(request, attempt, duration, status=status)
                return response
            if status >= 500:
                attempts.host_error = f"HTTP {status} {response.reason_phrase}"
            if logger.isEnabledFor(_WARNING):
                log_response(
                    request,
                    response,
                    attempt=attempt,
                    duration=duration,
                    level=_WARNING,
                    log_headers=self._log_headers,
                )
            if first_started is None:
                first_started = time.monotonic() - duration
            wait = self._next_wait(request, attempt, response, first_started, waited, replayable)
            if call is not None:
                call.attempt(request, attempt, duration, status=status, retry_in=wait)
            if wait is None:
                response.extensions[ATTEMPTS_EXTENSION] = attempt
                return response
            await _discard(response)
            await sleep(wait)
            waited += wait
            attempt += 1

    def _next_wait(
        self,
        request: httpx.Request,
        attempt: int,
        response: httpx.Response | None,
        first_started: float,
        waited: float,
        replayable: bool,
    ) -> float | None:
        """Return how long to wait before the next attempt, or ``None`` to give up."""
        if attempt >= self._retry.attempts or not self._retry_allowed(request):
            return None
        if not replayable:
            if logger.isEnabledFor(_DEBUG):
                logger.debug("%s not retried: its streamed body cannot be replayed", request.method)
            return None
        wait = self._backoff.delay(attempt)
        if response is not None:
            asked = parse_retry_after(response.headers.get("Retry-After"))
            if asked is not None:
                wait = asked
                if asked > self._retry.retry_after_cap:
                    wait = self._retry.retry_after_cap
                    logger.warning(
                        "Retry-After of %.1fs for %s capped at %.1fs",
                        asked,
                        request.method,
                        wait,
                        extra={"http_retry_after": asked, "http_retry_after_cap": wait},
                    )
        budget = self._retry.total_timeout
        # Waits skipped by ``testing()`` still count, so the budget behaves the same in tests.
        if budget is not None and max(time.monotonic() - first_started, waited) + wait > budget:
            if logger.isEnabledFor(_WARNING):
                logger.warning(
                    "%s not retried: waiting %.2fs would exceed the %.1fs retry budget",
                    request.method,
                    wait,
                    budget,
                )
            return None
        if logger.isEnabledFor(_DEBUG):
            logger.debug(
                "retrying %s in %.3fs (attempt %d of %d)",
                request.method,
                wait,
                attempt + 1,
                self._retry.attempts,
                extra={"http_attempt": attempt + 1, "http_wait": wait},
            )
        return wait

    async def aclose(self) -> None:
        """Close the wrapped transport, after removing the client's health check (if any)."""
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            callback()
        await self._wrapped.aclose()
