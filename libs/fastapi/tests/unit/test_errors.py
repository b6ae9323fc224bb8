"""Problem+json errors: API errors, the exception mapping, validation and unhandled errors."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from internal_base.errors import CircuitOpenError, CommonsError, ConfigurationError
from internal_fastapi import (
    PROBLEM_CONTENT_TYPE,
    ApiError,
    BadRequestError,
    ConflictError,
    ErrorMapper,
    FastAPISettings,
    ForbiddenError,
    NotFoundError,
    ServiceUnavailableError,
    TooManyRequestsError,
    UnauthorizedError,
    default_error_mapper,
    error_mapper,
    install,
)

ClientFactory = Callable[[FastAPI], httpx.AsyncClient]
SECRET = "postgresql://app:hunter2@db.internal:5432/app"


class Item(BaseModel):
    """A nested body for validation tests."""

    name: str
    quantity: int


class Order(BaseModel):
    """A body with a secret-looking field and a nested list."""

    password: str
    items: list[Item]


class PaymentDeclined(ApiError):
    """A custom API error with its own status and code."""

    status_code = 402
    code = "payment_declined"
    title = "Payment declined"


class QuotaError(CommonsError):
    """A library error mapped with an exposed message."""


def _raiser(exc: BaseException) -> Callable[[], object]:
    async def route() -> object:
        raise exc

    return route


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (BadRequestError("bad input"), 400, "bad_request"),
        (UnauthorizedError("who are you"), 401, "unauthorized"),
        (ForbiddenError("not yours"), 403, "forbidden"),
        (NotFoundError("no order 7"), 404, "not_found"),
        (ConflictError("order already paid"), 409, "conflict"),
        (TooManyRequestsError("slow down"), 429, "too_many_requests"),
        (ServiceUnavailableError("maintenance"), 503, "service_unavailable"),
        (PaymentDeclined("card expired"), 402, "payment_declined"),
    ],
)
async def test_api_errors_become_problems(
    app: FastAPI, make_client: ClientFactory, exc: ApiError, status: int, code: str
) -> None:
    """Each API error gives its status, code and client-facing detail as problem+json."""
    app.get("/fail")(_raiser(exc))
    async with make_client(app) as client:
        response = await client.get("/fail", headers={"X-Correlation-ID": "corr-e"})
    body = response.json()
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert (body["status"], body["code"], body["detail"]) == (status, code, str(exc))
    assert body["type"] == "about:blank"
    assert (body["instance"], body["correlation_id"]) == ("/fail", "corr-e")


async def test_api_error_extensions_and_headers(app: FastAPI, make_client: ClientFactory) -> None:
    """Extensions become members of the body; headers are sent; a custom title is kept."""
    app.get("/fail")(_raiser(PaymentDeclined("declined", headers={"X-Reason": "expired"}, order_id=7)))
    async with make_client(app) as client:
        response = await client.get("/fail")
    body = response.json()
    assert (body["order_id"], body["title"]) == (7, "Payment declined")
    assert response.headers["x-reason"] == "expired"


async def test_unauthorized_and_rate_limit_headers(app: FastAPI, make_client: ClientFactory) -> None:
    """401 carries WWW-Authenticate; 429 carries Retry-After rounded up."""
    app.get("/auth")(_raiser(UnauthorizedError()))
    app.get("/rate")(_raiser(TooManyRequestsError(retry_after=1.2)))
    async with make_client(app) as client:
        auth = await client.get("/auth")
        rate = await client.get("/rate")
    assert auth.headers["www-authenticate"] == "Bearer"
    assert "detail" not in auth.json()
    assert rate.headers["retry-after"] == "2"


async def test_unhandled_errors_leak_nothing(app: FastAPI, make_client: ClientFactory) -> None:
    """An unexpected exception is a generic 500: no message, type, traceback or secret in the body."""
    app.get("/fail")(_raiser(RuntimeError(f"cannot connect to {SECRET}")))
    async with make_client(app) as client:
        response = await client.get("/fail")
    body = response.json()
    assert response.status_code == 500
    assert body["code"] == "internal_error"
    assert body["correlation_id"] == response.headers["x-correlation-id"]
    for leak in ("hunter2", "db.internal", "RuntimeError", "Traceback", "connect"):
        assert leak not in response.text


async def test_commons_errors_use_the_mapping(app: FastAPI, make_client: ClientFactory) -> None:
    """ConfigurationError is a generic 500; an open circuit is a 503 with Retry-After."""
    app.get("/config")(_raiser(ConfigurationError(f"bad url {SECRET}")))
    app.get("/circuit")(_raiser(CircuitOpenError("payments", 2.5)))
    async with make_client(app) as client:
        config = await client.get("/config")
        circuit = await client.get("/circuit")
    assert (config.status_code, config.json()["code"]) == (500, "configuration_error")
    assert "hunter2" not in config.text
    assert "bad url" not in config.text
    assert (circuit.status_code, circuit.json()["code"]) == (503, "dependency_unavailable")
    assert circuit.headers["retry-after"] == "3"
    assert "payments" not in circuit.text


async def test_registered_rules_expose_redacted_messages(app: FastAPI, make_client: ClientFactory) -> None:
    """A rule with ``expose=True`` shows the message with secrets masked."""
    error_mapper(app).register(QuotaError, 429, "quota_exceeded", expose=True)
    app.get("/fail")(_raiser(QuotaError("quota exceeded for api_key=abc123")))
    async with make_client(app) as client:
        response = await client.get("/fail")
    body = response.json()
    assert (response.status_code, body["code"]) == (429, "quota_exceeded")
    assert body["detail"] == "quota exceeded for api_key=***"


async def test_non_commons_types_can_be_mapped(app: FastAPI, make_client: ClientFactory) -> None:
    """Any exception type can be mapped; a 4xx rule without detail sends no detail."""
    error_mapper(app).register(PermissionError, 403)
    app.get("/fail")(_raiser(PermissionError("/etc/shadow")))
    async with make_client(app) as client:
        response = await client.get("/fail")
    body = response.json()
    assert (response.status_code, body["code"], body["title"]) == (403, "forbidden", "Forbidden")
    assert "detail" not in body
    assert "shadow" not in response.text


def test_mapper_prefers_the_most_specific_rule() -> None:
    """The closest class in the MRO wins; copies are independent."""
    mapper = default_error_mapper()
    mapper.register(LookupError, 404, "missing")
    mapper.register(KeyError, 400, "bad_key")
    assert mapper.rule_for(KeyError("k")).code == "bad_key"  # type: ignore[union-attr]
    assert mapper.rule_for(IndexError(1)).code == "missing"  # type: ignore[union-attr]
    assert mapper.rule_for(ValueError()) is None
    clone = mapper.copy()
    clone.register(ValueError, 400, "value")
    assert mapper.rule_for(ValueError()) is None
    assert clone.rule_for(ValueError()).code == "value"  # type: ignore[union-attr]


def test_mapper_rejects_non_error_statuses() -> None:
    """Only 4xx/5xx may be mapped."""
    with pytest.raises(ConfigurationError, match="4xx or 5xx"):
        ErrorMapper().register(ValueError, 302)


def test_problem_type_base_builds_type_uris() -> None:
    """With a base URI, ``type`` is base + code; unknown statuses get a neutral title."""
    mapper = ErrorMapper(problem_type_base="https://errors.example.com/")
    mapper.register(ValueError, 599, "odd")
    problem, headers = mapper.problem(ValueError("x"), instance="/p")
    assert (problem.type, problem.title, problem.status, headers) == (
        "https://errors.example.com/odd",
        "Error",
        599,
        {},
    )


async def test_settings_problem_type_base(make_client: ClientFactory) -> None:
    """``problem_type_base`` from the settings reaches API errors and validation errors."""
    app = FastAPI()
    install(app, FastAPISettings(problem_type_base="https://errors.example.com/"))
    app.get("/fail")(_raiser(NotFoundError("gone")))

    @app.get("/n")
    async def number(n: int) -> int:
        return n

    async with make_client(app) as client:
        missing = await client.get("/fail")
        invalid = await client.get("/n?n=x")
    assert missing.json()["type"] == "https://errors.example.com/not_found"
    assert invalid.json()["type"] == "https://errors.example.com/validation_error"


async def test_validation_errors_list_field_paths(app: FastAPI, make_client: ClientFactory) -> None:
    """A 422 lists every invalid field by dotted path and never echoes the input."""

    @app.post("/orders")
    async def create(order: Order) -> dict[str, int]:
        return {"items": len(order.items)}

    payload = {"password": 12345678, "items": [{"name": "a", "quantity": "many"}, {"quantity": 1}]}
    async with make_client(app) as client:
        response = await client.post("/orders", json=payload)
    body = response.json()
    assert response.status_code == 422
    assert body["code"] == "validation_error"
    fields = {error["field"]: error["type"] for error in body["errors"]}
    assert fields == {
        "body.password": "string_type",
        "body.items.0.quantity": "int_parsing",
        "body.items.1.name": "missing",
    }
    assert body["detail"].startswith("3 invalid fields: ")
    assert "12345678" not in response.text
    assert "many" not in response.text


async def test_http_exceptions_become_problems(app: FastAPI, make_client: ClientFactory) -> None:
    """HTTPException keeps its status, string detail and headers; 405 keeps Allow."""

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(status_code=418, detail="short and stout", headers={"X-Tea": "earl-grey"})

    @app.get("/structured")
    async def structured() -> None:
        raise HTTPException(status_code=400, detail={"internal": "structure"})

    async with make_client(app) as client:
        tea = await client.get("/teapot")
        structured_response = await client.get("/structured")
        not_allowed = await client.delete("/teapot")
    assert (tea.status_code, tea.json()["detail"], tea.headers["x-tea"]) == (
        418,
        "short and stout",
        "earl-grey",
    )
    assert tea.json()["code"] == "im_a_teapot"
    assert "detail" not in structured_response.json()
    assert (not_allowed.status_code, not_allowed.json()["code"]) == (405, "method_not_allowed")
    assert not_allowed.headers["allow"] == "GET"


async def test_error_mapper_is_created_on_demand(make_client: ClientFactory) -> None:
    """``error_mapper`` on a bare app returns one mapper and keeps returning it."""
    app = FastAPI()
    assert error_mapper(app) is error_mapper(app)
    assert error_mapper(app).rule_for(ConfigurationError("x")).code == "configuration_error"  # type: ignore[union-attr]
