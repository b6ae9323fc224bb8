"""One mapping for the family: unavailable and timed-out dependencies are 503s with Retry-After."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from internal_aws import AwsNotFoundError, AwsTimeoutError, AwsUnavailableError
from internal_base.errors import CircuitOpenError, CommonsError
from internal_cache import CacheUnavailableError
from internal_fastapi import ErrorMapper, default_error_mapper, error_mapper
from internal_fastapi.extensions.cache import register_cache_errors
from internal_fastapi.extensions.rdbms import register_rdbms_errors
from internal_http import HttpUnavailableError
from internal_rdbms import RdbmsError, RdbmsNotFoundError, RdbmsTimeoutError, RdbmsUnavailableError

ClientFactory = Callable[[FastAPI], httpx.AsyncClient]


class LibError(CommonsError):
    """The root of a made-up library."""


class LibUnavailableError(LibError, ConnectionError):
    """Its server is unreachable."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LibTimeoutError(LibError, TimeoutError):
    """Its server did not answer in time."""


class LibNotFoundError(LibError, LookupError):
    """It has no such thing."""


def _raiser(exc: BaseException) -> Callable[[], object]:
    async def route() -> object:
        raise exc

    return route


async def _get(app: FastAPI, make_client: ClientFactory, exc: BaseException) -> httpx.Response:
    app.get("/fail")(_raiser(exc))
    async with make_client(app) as client:
        return await client.get("/fail")


@pytest.mark.parametrize(
    "exc",
    [
        LibUnavailableError("redis://:hunter2@cache.internal:6379 refused"),
        LibTimeoutError("db.internal:5432 timed out"),
    ],
)
async def test_unavailable_commons_errors_are_503(
    app: FastAPI, make_client: ClientFactory, exc: BaseException
) -> None:
    """Any CommonsError that is a ConnectionError or TimeoutError is a 503 that names nothing internal."""
    response = await _get(app, make_client, exc)
    body = response.json()
    assert (response.status_code, body["code"]) == (503, "dependency_unavailable")
    assert body["detail"] == "A dependency is temporarily unavailable; retry later."
    for leak in ("hunter2", "internal", "Lib"):
        assert leak not in response.text


async def test_retry_after_is_rounded_up(app: FastAPI, make_client: ClientFactory) -> None:
    """The error's ``retry_after`` seconds become a ``Retry-After`` header, rounded up."""
    response = await _get(app, make_client, LibUnavailableError("down", retry_after=1.2))
    assert (response.status_code, response.headers["retry-after"]) == (503, "2")


@pytest.mark.parametrize("retry_after", [None, float("nan"), float("inf"), True, "soon"])
async def test_unusable_retry_after_sends_no_header(
    app: FastAPI, make_client: ClientFactory, retry_after: object
) -> None:
    """A missing or unusable ``retry_after`` gives a 503 without ``Retry-After`` (never a crash)."""
    exc = LibUnavailableError("down")
    exc.retry_after = retry_after  # type: ignore[assignment]
    response = await _get(app, make_client, exc)
    assert response.status_code == 503
    assert "retry-after" not in response.headers


def test_a_library_root_rule_does_not_hide_unavailability() -> None:
    """A rule for the library's root (500) still leaves its unavailable errors at 503."""
    mapper = default_error_mapper()
    mapper.register(LibError, 500, "lib_error")
    assert mapper.rule_for(LibUnavailableError("down")).status == 503  # type: ignore[union-attr]
    assert mapper.rule_for(LibTimeoutError("slow")).status == 503  # type: ignore[union-attr]
    assert mapper.rule_for(LibError("other")).code == "lib_error"  # type: ignore[union-attr]


def test_a_rule_for_the_unavailable_class_itself_wins() -> None:
    """A rule registered for the unavailable class (or a subclass) beats the generic one."""
    mapper = default_error_mapper()
    mapper.register(LibUnavailableError, 503, "lib_unavailable")
    assert mapper.rule_for(LibUnavailableError("down")).code == "lib_unavailable"  # type: ignore[union-attr]
    assert mapper.rule_for(LibTimeoutError("slow")).code == "dependency_unavailable"  # type: ignore[union-attr]


@pytest.mark.parametrize("exc", [ConnectionRefusedError("raw"), TimeoutError("raw")])
def test_builtin_errors_outside_the_family_stay_500(exc: BaseException) -> None:
    """A raw ConnectionError/TimeoutError (not a CommonsError) is not mapped: a 500."""
    assert default_error_mapper().rule_for(exc) is None


def test_not_found_lookup_errors_are_500_by_default() -> None:
    """A library's not-found LookupError is a 500 unless an extension says it means 404."""
    assert default_error_mapper().rule_for(LibNotFoundError("x")).status == 500  # type: ignore[union-attr]


def test_scoped_rules_apply_within_their_root_only() -> None:
    """``register(kind, ..., within=Root)`` maps the Root errors that are also ``kind``, nothing else."""
    mapper = default_error_mapper()
    mapper.register(LookupError, 404, "not_found", within=LibError)
    assert mapper.rule_for(LibNotFoundError("x")).status == 404  # type: ignore[union-attr]
    assert mapper.rule_for(KeyError("k")) is None
    copy = mapper.copy()
    assert copy.rule_for(LibNotFoundError("x")).status == 404  # type: ignore[union-attr]


def test_scoped_rules_need_exception_types() -> None:
    """``within`` must be an exception class."""
    with pytest.raises(TypeError, match="within"):
        ErrorMapper().register(LookupError, 404, within="LibError")  # type: ignore[arg-type]


async def test_circuit_open_is_503_with_retry_after(app: FastAPI, make_client: ClientFactory) -> None:
    """internal_base's CircuitOpenError is a 503 with its remaining reset time."""
    response = await _get(app, make_client, CircuitOpenError("payments", 4.01))
    assert (response.status_code, response.headers["retry-after"]) == (503, "5")


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("All connection attempts failed"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected"),
    ],
)
async def test_httpx_transport_errors_are_503(
    app: FastAPI, make_client: ClientFactory, exc: BaseException
) -> None:
    """httpx transport errors and timeouts raised in a route are 503s."""
    response = await _get(app, make_client, exc)
    assert (response.status_code, response.json()["code"]) == (503, "dependency_unavailable")


async def test_httpx_unsupported_protocol_is_500(app: FastAPI, make_client: ClientFactory) -> None:
    """A URL without a usable scheme is a programming error, never worth a retry: 500."""
    response = await _get(app, make_client, httpx.UnsupportedProtocol("no scheme"))
    assert (response.status_code, response.json()["code"]) == (500, "internal_error")


def test_installed_mappers_share_the_family_rules(app: FastAPI) -> None:
    """The mapper ``install`` put on the app has the family rules too."""
    assert error_mapper(app).rule_for(LibTimeoutError("slow")).status == 503  # type: ignore[union-attr]


class RowGoneError(RdbmsError, LookupError):
    """A not-found error of internal_rdbms under a name the mapping has never seen."""


class DatabaseDownError(RdbmsError, ConnectionError):
    """An unreachable-database error of internal_rdbms under a name the mapping has never seen."""

    retry_after = 2.5


def test_rdbms_not_found_is_matched_by_lookup_error() -> None:
    """Any internal_rdbms error that is a LookupError is a 404 once the rdbms rules are registered."""
    mapper = default_error_mapper()
    register_rdbms_errors(mapper)
    rule = mapper.rule_for(RowGoneError("no row 7"))
    assert (rule.status, rule.code) == (404, "not_found")  # type: ignore[union-attr]


def test_rdbms_unavailable_is_matched_by_connection_error() -> None:
    """Any internal_rdbms error that is a ConnectionError is a 503 with its Retry-After."""
    mapper = default_error_mapper()
    register_rdbms_errors(mapper)
    problem, headers = mapper.problem(DatabaseDownError("db down"))
    assert (problem.status, problem.code, headers) == (503, "database_unavailable", {"Retry-After": "3"})


def test_cache_unavailable_sends_retry_after() -> None:
    """internal_cache's unavailable error carrying ``retry_after`` gets a Retry-After header."""
    mapper = default_error_mapper()
    register_cache_errors(mapper)
    exc = CacheUnavailableError("redis down")
    vars(exc)["retry_after"] = 4  # the attribute internal_cache sets when its circuit is open
    problem, headers = mapper.problem(exc)
    assert (problem.status, headers) == (503, {"Retry-After": "4"})


@pytest.mark.parametrize(
    ("exc", "retry_after"),
    [
        (CacheUnavailableError("redis down", retry_after=1.5), "2"),
        (RdbmsUnavailableError("db down", retry_after=1), "1"),
        (RdbmsTimeoutError("statement timeout"), None),
        (AwsUnavailableError("endpoint down", retry_after=0.2), "1"),
        (AwsTimeoutError("read timed out"), None),
        (HttpUnavailableError("api.internal:443", 4.5), "5"),
    ],
)
def test_every_librarys_unavailable_error_is_503(exc: BaseException, retry_after: str | None) -> None:
    """The real unavailable/timeout errors of cache, rdbms, aws and http are 503s with their Retry-After."""
    problem, headers = default_error_mapper().problem(exc)
    assert (problem.status, problem.code, headers.get("Retry-After")) == (
        503,
        "dependency_unavailable",
        retry_after,
    )


@pytest.mark.parametrize("exc", [AwsNotFoundError("no such key"), RdbmsNotFoundError("User", 7)])
def test_library_not_found_is_500_without_its_extension(exc: BaseException) -> None:
    """A library's not-found error means nothing to HTTP by itself: 500, its message not shown."""
    problem, _ = default_error_mapper().problem(exc)
    assert (problem.status, problem.code) == (500, "internal_error")
    assert "no such key" not in str(problem.detail)
