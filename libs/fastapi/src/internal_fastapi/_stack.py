"""The commons stack as one pure ASGI middleware: what ``install()`` adds.

The same behaviour as :class:`CorrelationIdMiddleware` → :class:`RequestLoggingMiddleware` →
:class:`ErrorHandlingMiddleware`, in one layer: one coroutine frame and one ``send`` wrapper per
request instead of three, which is most of what the three separate layers cost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from typing import Final

from opentelemetry import context as otel_context
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from internal_base.context import correlation_scope
from internal_fastapi._admission import Admission
from internal_fastapi._errors import ErrorMapper, default_error_mapper
from internal_fastapi._middleware import (
    CorrelationIdMiddleware,
    add_id_headers,
    id_headers,
    log_request,
    new_id,
    read_request_headers,
)
from internal_fastapi._server_telemetry import TelemetrySwitch
from internal_fastapi._trace import attach_trace, mark_span

__all__ = ["CommonsMiddleware"]

_ERRORS: Final = logging.getLogger("internal_fastapi.errors")


class CommonsMiddleware:
    """Correlation IDs and trace context, the access log and last-resort errors in one layer.

    Args:
        app: The wrapped ASGI app.
        mapper: Exception → status rules (default: :func:`default_error_mapper`).
        trust_incoming: Reuse valid incoming IDs (False: always generate new ones).
        max_length: Longest accepted incoming ID.
        logger: Access logger name, or None for no access log.
        exclude_paths: Exact paths that are not logged (health probes).
        telemetry: The app's telemetry switch (``install()`` passes it): while it is on, this
            layer opens the request's server span around everything it does and records the
            ``http.server.*`` metrics. None: never on.
        admission: The concurrent-request limit (None: every request is admitted). A request
            over the limit is answered at once with a problem+json 503 ``overloaded`` and
            ``Retry-After``, logged and traced like any other response.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        mapper: ErrorMapper | None = None,
        trust_incoming: bool = True,
        max_length: int = 128,
        logger: str | None = "internal_fastapi.access",
        exclude_paths: Collection[str] = (),
        telemetry: TelemetrySwitch | None = None,
        admission: Admission | None = None,
    ) -> None:
        self.app = app
        self.admission = admission if admission is not None else Admission(None)
        self.telemetry = telemetry if telemetry is not None else TelemetrySwitch()
        self.mapper = mapper if mapper is not None else default_error_mapper()
        self.logger = None if logger is None else logging.getLogger(logger)
        self.exclude_paths = frozenset(exclude_paths)
        # Websockets get the correlation scope only (no access line, no problem response).
        self.correlation = CorrelationIdMiddleware(app, trust_incoming=trust_incoming, max_length=max_length)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.correlation(scope, receive, send)
            return
        started = time.perf_counter()
        incoming_cid, incoming_rid, carrier = read_request_headers(scope)
        accept = self.correlation.accept
        correlation_id = accept(incoming_cid) or new_id()
        request_id = accept(incoming_rid) or new_id()
        state = scope.setdefault("state", {})
        state["correlation_id"] = correlation_id
        state["request_id"] = request_id
        ids = id_headers(correlation_id, request_id)
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                add_id_headers(message, ids)
            await send(message)

        server = self.telemetry.server
        request = server.start(scope, carrier, correlation_id) if server is not None else None
        token = attach_trace(carrier) if carrier and request is None else None
        error: BaseException | None = None
        admitted = self.admission.enter(scope["path"])
        try:
            with correlation_scope(correlation_id, request_id):
                if request is None:
                    mark_span(correlation_id)  # a span opened outside (FastAPI's own, an outer layer)
                aborted = True
                try:
                    try:
                        if admitted is False:
                            refusal = self.admission.refusal(self.mapper, scope["path"])
                            await refusal(scope, receive, send_wrapper)
                        else:
                            await self.app(scope, receive, send_wrapper)
                    except Exception as exc:
                        error = exc
                        if response_started:
                            _ERRORS.error("exception after the response started", exc_info=exc)
                            raise
                        response = self.mapper.response(exc, instance=scope["path"])
                        await response(scope, receive, send_wrapper)
                    aborted = False
                finally:
                    logger = self.logger
                    if logger is not None and scope["path"] not in self.exclude_paths:
                        duration_ms = (time.perf_counter() - started) * 1000
                        log_request(logger, scope, status, duration_ms, aborted=aborted)
        except BaseException as exc:
            error = error or exc
            raise
        finally:
            if admitted:
                self.admission.leave()
            if request is not None:
                server.finish(request, scope, status, error)  # type: ignore[union-attr]
            elif token is not None:
                otel_context.detach(token)  # type: ignore[arg-type]
