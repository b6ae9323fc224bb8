"""API errors, the exception → status mapping and the RFC 9457 exception handlers.

Every error response is ``application/problem+json`` with ``type``, ``title``, ``status``,
``detail``, ``instance``, a stable ``code`` and the request's ``correlation_id``. Only
:class:`ApiError` messages (written for clients) are shown as ``detail``; other exceptions
get a fixed, generic text unless their mapping says ``expose=True`` (then the message is
redacted). Unmapped exceptions become a 500 that reveals nothing but the correlation ID.

One mapping for the whole family (:func:`default_error_mapper`): a dependency that cannot be
reached or did not answer in time is a 503 with ``Retry-After`` when the error knows when to
retry (its ``retry_after`` seconds, rounded up). That is matched by base class, not by name:
any ``CommonsError`` that is also a ``ConnectionError`` or ``TimeoutError`` (``CacheUnavailableError``,
``RdbmsUnavailableError``, ``AwsUnavailableError``, ``AwsTimeoutError`` ...), ``CircuitOpenError``,
and ``httpx.TransportError`` when httpx is installed. Errors of the web layer itself::

    CommonsError
    └── ApiError                    a problem meant for the client (400 unless a subclass says)
        ├── BadRequestError         400
        ├── UnauthorizedError       401 (WWW-Authenticate: Bearer)
        ├── ForbiddenError          403
        ├── NotFoundError           404
        ├── ConflictError           409
        ├── TooManyRequestsError    429 (Retry-After)
        └── ServiceUnavailableError 503
            └── OverloadedError     503 (admission control)
"""

from __future__ import annotations

import importlib.util
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from internal_base.context import get_correlation_id
from internal_base.cursor import InvalidCursorError as BaseInvalidCursorError
from internal_base.errors import CircuitOpenError, CommonsError, ConfigurationError
from internal_base.redaction import redact_text
from internal_fastapi._responses import (
    PROBLEM_CONTENT_TYPE,
    FieldError,
    ProblemDetail,
    ValidationProblemDetail,
    problem_body,
)

__all__ = [
    "ApiError",
    "BadRequestError",
    "ConflictError",
    "ErrorMapper",
    "ErrorRule",
    "ForbiddenError",
    "NotFoundError",
    "OverloadedError",
    "ServiceUnavailableError",
    "TooManyRequestsError",
    "UnauthorizedError",
    "default_error_mapper",
    "error_mapper",
    "install_exception_handlers",
    "problem_response",
    "retry_after_header",
]

_log = logging.getLogger("internal_fastapi.errors")
_STATE_KEY: Final = "commons_error_mapper"
_GENERIC_DETAIL: Final = "An unexpected error occurred. Quote the correlation_id when reporting it."
_UNAVAILABLE_DETAIL: Final = "A dependency is temporarily unavailable; retry later."
# Longest Retry-After sent (one day): a breaker or upstream asking for more is broken, and a
# 309-digit header (retry_after=1e308) helps no client.
_MAX_RETRY_AFTER: Final = 86_400
_MAX_FIELD_ERRORS: Final = 50  # errors listed in a 422 (error_count has the total)
_MAX_FIELDS_NAMED: Final = 10  # field names in its detail sentence
_MAX_FIELD_NAME: Final = 200  # characters of one name there (a JSON key is the client's choice)

HeadersFn = Callable[[BaseException], Mapping[str, str]]


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _retry_after_seconds(seconds: object) -> str | None:
    """Whole seconds for ``Retry-After`` (rounded up, 0..one day), None when not a finite number."""
    if isinstance(seconds, int | float) and not isinstance(seconds, bool) and math.isfinite(seconds):
        return str(min(_MAX_RETRY_AFTER, max(0, math.ceil(seconds))))
    return None


def _code_for(status: int) -> str:
    return _phrase(status).lower().replace(" ", "_").replace("-", "_").replace("'", "")


class ApiError(CommonsError):
    """An error meant for the client: its message becomes the problem's ``detail``.

    Subclass it (or use the ready-made subclasses) and raise it from routes or dependencies.

    Args:
        detail: Client-facing explanation; never put secrets or internals here.
        code: Stable machine-readable code (default: the class's ``code``).
        headers: Extra response headers (e.g. ``WWW-Authenticate``).
        **extensions: Extra JSON members of the problem body.
    """

    status_code: int = 400
    code: str = "bad_request"
    title: str | None = None

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        self.detail = detail
        if code is not None:
            self.code = code
        self.headers: dict[str, str] = dict(headers or {})
        self.extensions = extensions
        super().__init__(detail or self.title or _phrase(self.status_code))


class BadRequestError(ApiError):
    """400: the request is malformed (e.g. a tampered cursor)."""


class UnauthorizedError(ApiError):
    """401: missing or invalid credentials; sends ``WWW-Authenticate: Bearer`` by default."""

    status_code = 401
    code = "unauthorized"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class ForbiddenError(ApiError):
    """403: authenticated but not allowed."""

    status_code = 403
    code = "forbidden"


class NotFoundError(ApiError):
    """404: no such resource."""

    status_code = 404
    code = "not_found"


class ConflictError(ApiError):
    """409: the request conflicts with the resource's current state."""

    status_code = 409
    code = "conflict"


class TooManyRequestsError(ApiError):
    """429: rate limited; ``retry_after`` seconds become a ``Retry-After`` header."""

    status_code = 429
    code = "too_many_requests"

    def __init__(self, detail: str | None = None, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        header = _retry_after_seconds(retry_after)
        if header is not None:
            self.headers.setdefault("Retry-After", header)


class ServiceUnavailableError(ApiError):
    """503: a dependency is down; retry later."""

    status_code = 503
    code = "service_unavailable"


class OverloadedError(ServiceUnavailableError):
    """503 ``overloaded``: the service is at its concurrent-request limit (admission control)."""

    code = "overloaded"


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """How one exception type is turned into a problem response.

    Attributes:
        status: HTTP status code.
        code: Stable machine-readable code.
        title: Problem title (default: the status phrase).
        detail: Fixed client-facing detail (default: generic text, or the message if ``expose``).
        expose: Show the exception's (redacted) message as ``detail``.
        headers: Callable returning extra headers for the exception (e.g. ``Retry-After``).
    """

    status: int
    code: str
    title: str | None = None
    detail: str | None = None
    expose: bool = False
    headers: HeadersFn | None = None


def retry_after_header(exc: BaseException) -> Mapping[str, str]:
    """``{"Retry-After": <seconds>}`` from the error's ``retry_after`` (rounded up), else ``{}``.

    Use it as the ``headers`` of your own 503/429 rules. Negative values send ``0``, values above
    one day send ``86400``; missing, non-finite or non-numeric values send no header (they never
    break the response).
    """
    try:
        seconds = getattr(exc, "retry_after", None)
    except Exception:  # a broken property must not turn the 503 into a 500
        return {}
    header = _retry_after_seconds(seconds)
    return {} if header is None else {"Retry-After": header}


class ErrorMapper:
    """Maps exception types to :class:`ErrorRule` (most specific class in the MRO wins).

    A rule registered ``within=Root`` is a rule for a *kind* of ``Root`` error, e.g. every
    ``CommonsError`` that is a ``ConnectionError``: it applies to exceptions that are both, and
    it beats the rules of ``Root`` and of the exception's other, broader classes (a library's
    ``RdbmsError → 500``), but not a rule registered for a class that is itself of that kind
    (``CacheUnavailableError``). Among several matching kinds, the one whose ``within`` comes
    first in the exception's MRO wins, then the one registered first.

    Args:
        problem_type_base: Base URI of problem ``type`` (``base + code``); None gives ``about:blank``.
    """

    def __init__(self, *, problem_type_base: str | None = None) -> None:
        self.problem_type_base = problem_type_base
        self._rules: dict[type[BaseException], ErrorRule] = {}
        self._scoped: dict[tuple[type[BaseException], type[BaseException]], ErrorRule] = {}

    def register(
        self,
        exc_type: type[BaseException],
        status: int,
        code: str | None = None,
        *,
        title: str | None = None,
        detail: str | None = None,
        expose: bool = False,
        headers: HeadersFn | None = None,
        within: type[BaseException] | None = None,
    ) -> None:
        """Map ``exc_type`` (and its subclasses without a rule of their own) to ``status``.

        Args:
            exc_type: The exception class (with ``within``: the kind, e.g. ``ConnectionError``).
            status: HTTP status (4xx or 5xx).
            code: Stable machine-readable code (default: from the status phrase).
            title: Problem title (default: the status phrase).
            detail: Fixed client-facing detail.
            expose: Show the exception's (redacted) message as ``detail``.
            headers: Callable returning extra headers, e.g. :func:`retry_after_header`.
            within: Apply only to exceptions that are also instances of this class, ahead of its
                rules (see the class docstring): ``register(LookupError, 404, within=RdbmsError)``.

        Raises:
            ConfigurationError: ``status`` is not a 4xx/5xx code.
            TypeError: ``within`` is not an exception class.
        """
        if not 400 <= status <= 599:
            raise ConfigurationError(f"error status must be 4xx or 5xx, got {status}")
        rule = ErrorRule(status, code or _code_for(status), title, detail, expose, headers)
        if within is None:
            self._rules[exc_type] = rule
            return
        if not (isinstance(within, type) and issubclass(within, BaseException)):
            raise TypeError(f"within must be an exception class, got {within!r}")
        self._scoped[(exc_type, within)] = rule

    def rule_for(self, exc: BaseException) -> ErrorRule | None:
        """The rule of the closest mapped class (or kind) of ``exc``, or None."""
        mro = type(exc).__mro__
        kinds = [
            (mro.index(within), kind, rule)
            for (kind, within), rule in self._scoped.items()
            if isinstance(exc, kind) and isinstance(exc, within)
        ]
        if kinds:
            _, kind, scoped = min(kinds, key=lambda found: found[0])  # min() keeps the first of ties
            for cls in mro:
                if not issubclass(cls, kind):
                    return scoped  # past the classes that are themselves of the kind
                rule = self._rules.get(cls)
                if rule is not None:
                    return rule
            return scoped  # pragma: no cover - object is never a subclass of an exception kind
        for cls in mro:
            rule = self._rules.get(cls)
            if rule is not None:
                return rule
        return None

    def copy(self) -> ErrorMapper:
        """An independent mapper with the same rules."""
        clone = ErrorMapper(problem_type_base=self.problem_type_base)
        clone._rules = dict(self._rules)
        clone._scoped = dict(self._scoped)
        return clone

    def _type(self, code: str) -> str:
        return f"{self.problem_type_base}{code}" if self.problem_type_base else "about:blank"

    def _outcome(self, exc: BaseException) -> tuple[int, str]:
        if isinstance(exc, ApiError):
            return exc.status_code, exc.code
        if isinstance(exc, StarletteHTTPException):
            return exc.status_code, _code_for(exc.status_code)
        rule = self.rule_for(exc)
        return (rule.status, rule.code) if rule is not None else (500, "internal_error")

    def _representative(self, exc: BaseException) -> BaseException:
        # A TaskGroup wraps a route's errors in an ExceptionGroup: answer as its errors would,
        # when they all agree (one unavailable database is still a 503), else a generic 500.
        if not isinstance(exc, BaseExceptionGroup) or self.rule_for(exc) is not None:
            return exc
        leaves = _leaves(exc)
        if leaves and len({self._outcome(leaf) for leaf in leaves}) == 1:
            return leaves[0]
        return exc

    def problem(
        self, exc: BaseException, *, instance: str | None = None
    ) -> tuple[ProblemDetail, dict[str, str]]:
        """The problem body and extra headers for ``exc``.

        An exception group (e.g. from ``asyncio.TaskGroup``) without a rule of its own is answered
        as its first error when all its errors give the same status and code, else as a 500.
        """
        exc = self._representative(exc)
        if isinstance(exc, StarletteHTTPException):
            return _http_problem(self, exc, instance)
        if isinstance(exc, ApiError):
            status, code = exc.status_code, exc.code
            problem = ProblemDetail(
                type=self._type(code),
                title=exc.title or _phrase(status),
                status=status,
                detail=exc.detail,
                instance=instance,
                code=code,
                correlation_id=get_correlation_id(),
                # Members of the problem itself are the mapper's: an extension named "status" or
                # "correlation_id" must neither break the response nor relabel it.
                **{k: v for k, v in exc.extensions.items() if k not in ProblemDetail.model_fields},
            )
            return problem, dict(exc.headers)
        rule = self.rule_for(exc) or ErrorRule(500, "internal_error")
        if rule.detail is not None:
            detail: str | None = rule.detail
        elif rule.expose:
            detail = _exposed_text(exc)
        else:
            detail = _GENERIC_DETAIL if rule.status >= 500 else None
        problem = ProblemDetail(
            type=self._type(rule.code),
            title=rule.title or _phrase(rule.status),
            status=rule.status,
            detail=detail,
            instance=instance,
            code=rule.code,
            correlation_id=get_correlation_id(),
        )
        return problem, dict(rule.headers(exc)) if rule.headers is not None else {}

    def response(self, exc: BaseException, *, instance: str | None = None) -> JSONResponse:
        """The ``application/problem+json`` response for ``exc``; logs server errors."""
        problem, headers = self.problem(exc, instance=instance)
        if problem.status >= 500:
            _log.error(
                "request failed with %s (%s)",
                type(exc).__name__,
                problem.code,
                exc_info=exc,
                extra={"http_status": problem.status, "error_code": problem.code},
            )
        return problem_response(problem, headers=headers)


def _exposed_text(exc: BaseException) -> str | None:
    try:
        text = str(exc)
    except Exception:  # an error that cannot say what it is still gets its status
        return None
    return redact_text(text) or None


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for inner in group.exceptions:
        found.extend(_leaves(inner) if isinstance(inner, BaseExceptionGroup) else [inner])
    return found


def _http_problem(
    mapper: ErrorMapper, exc: StarletteHTTPException, instance: str | None
) -> tuple[ProblemDetail, dict[str, str]]:
    status = exc.status_code
    detail = exc.detail if isinstance(exc.detail, str) else None
    problem = ProblemDetail(
        type=mapper._type(_code_for(status)),
        title=_phrase(status),
        status=status,
        detail=None if detail == _phrase(status) else detail,
        instance=instance,
        code=_code_for(status),
        correlation_id=get_correlation_id(),
    )
    return problem, dict(exc.headers or {})


def _register_unavailable(mapper: ErrorMapper, exc_type: type[BaseException], **kwargs: Any) -> None:
    mapper.register(
        exc_type,
        503,
        "dependency_unavailable",
        detail=_UNAVAILABLE_DETAIL,
        headers=retry_after_header,
        **kwargs,
    )


def _register_httpx(mapper: ErrorMapper) -> None:
    # Only when the application has httpx: the wheel does not depend on it.
    if importlib.util.find_spec("httpx") is None:  # pragma: no cover - httpx is in the test environment
        return
    import httpx  # pants: no-infer-dep

    _register_unavailable(mapper, httpx.TransportError)
    # No scheme / an unknown one: the URL is wrong, and retrying will not fix it.
    mapper.register(httpx.UnsupportedProtocol, 500, "internal_error")


def default_error_mapper(*, problem_type_base: str | None = None) -> ErrorMapper:
    """A mapper with the rules every application gets (see the module docstring).

    ``CommonsError`` → 500 (nothing leaked); ``ConfigurationError`` → 500; cursor errors → 400;
    Starlette's ``ClientDisconnect`` → 499 ``client_closed_request``;
    every ``CommonsError`` that is a ``ConnectionError`` or ``TimeoutError``, ``CircuitOpenError``
    and ``httpx.TransportError`` → 503 ``dependency_unavailable`` with ``Retry-After`` when known.
    """
    mapper = ErrorMapper(problem_type_base=problem_type_base)
    mapper.register(CommonsError, 500, "internal_error")
    # The client left (nginx's 499): nobody reads the answer; logged as the client's doing, not an ERROR.
    mapper.register(ClientDisconnect, 499, "client_closed_request", title="Client Closed Request")
    mapper.register(ConfigurationError, 500, "configuration_error")
    # Cursor errors from any layer (its messages are written for clients and never hold the key).
    mapper.register(BaseInvalidCursorError, 400, "invalid_cursor", expose=True)
    _register_unavailable(mapper, CircuitOpenError)
    _register_unavailable(mapper, ConnectionError, within=CommonsError)
    _register_unavailable(mapper, TimeoutError, within=CommonsError)
    _register_httpx(mapper)
    return mapper


def problem_response(problem: ProblemDetail, *, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """Render ``problem`` as an ``application/problem+json`` response."""
    return JSONResponse(
        problem_body(problem),
        status_code=problem.status,
        headers=dict(headers or {}),
        media_type=PROBLEM_CONTENT_TYPE,
    )


def error_mapper(app: FastAPI) -> ErrorMapper:
    """The mapper installed on ``app`` (created with the default rules on first use)."""
    mapper = getattr(app.state, _STATE_KEY, None)
    if not isinstance(mapper, ErrorMapper):
        mapper = default_error_mapper()
        setattr(app.state, _STATE_KEY, mapper)
    return mapper


def _field_path(loc: tuple[int | str, ...] | list[int | str]) -> str:
    return ".".join(str(part) for part in loc)


async def _handle_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # registered for this type only
    found = exc.errors()
    # A 250 kB body of 50 000 bad items would otherwise give a 7 MB answer: list the first
    # errors and say how many there were.
    errors = [
        FieldError(
            field=_field_path(err.get("loc", ())),
            message=str(err.get("msg", "")),
            type=str(err.get("type", "")),
        )
        for err in found[:_MAX_FIELD_ERRORS]
    ]
    count = len(found)
    named = ", ".join(error.field[:_MAX_FIELD_NAME] for error in errors[:_MAX_FIELDS_NAMED])
    more = f" and {count - _MAX_FIELDS_NAMED} more" if count > _MAX_FIELDS_NAMED else ""
    mapper = error_mapper(request.app)
    problem = ValidationProblemDetail(
        type=mapper._type("validation_error"),
        title="Unprocessable Content",
        status=422,
        detail=f"{count} invalid field{'s' if count != 1 else ''}: {named}{more}",
        instance=request.url.path,
        code="validation_error",
        correlation_id=get_correlation_id(),
        errors=errors,
        error_count=count,
    )
    return problem_response(problem)


async def _handle_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # registered for this type only
    problem, headers = _http_problem(error_mapper(request.app), exc, request.url.path)
    return problem_response(problem, headers=headers)


async def _handle_commons(request: Request, exc: Exception) -> JSONResponse:
    return error_mapper(request.app).response(exc, instance=request.url.path)


def install_exception_handlers(app: FastAPI, mapper: ErrorMapper | None = None) -> ErrorMapper:
    """Register the problem+json handlers for validation, HTTP and commons errors on ``app``.

    Exceptions of other types are turned into problems by :class:`ErrorHandlingMiddleware`.

    Returns:
        The app's mapper (register more rules on it, e.g. from the ``extensions`` modules).
    """
    if mapper is not None:
        setattr(app.state, _STATE_KEY, mapper)
    installed = error_mapper(app)
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    app.add_exception_handler(CommonsError, _handle_commons)
    return installed
