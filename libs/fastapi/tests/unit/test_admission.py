"""Admission control: over the concurrent-request limit a request gets an immediate 503, probes never."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from internal_base.health import HealthRegistry
from internal_fastapi import FastAPISettings, OverloadedError, install
from internal_fastapi._admission import Admission

ClientFactory = Callable[[FastAPI], httpx.AsyncClient]


class Gate:
    """A route that holds its request until released, counting the requests inside it."""

    def __init__(self) -> None:
        self.inside = 0
        self.arrived = asyncio.Condition()
        self.open = asyncio.Event()

    async def hold(self) -> None:
        async with self.arrived:
            self.inside += 1
            self.arrived.notify_all()
        await self.open.wait()

    async def wait_for(self, count: int) -> None:
        async with self.arrived:
            await self.arrived.wait_for(lambda: self.inside >= count)


def _app(registry: HealthRegistry, gate: Gate, **settings: object) -> FastAPI:
    app = FastAPI()
    install(app, FastAPISettings(**settings), health_registry=registry)  # type: ignore[arg-type]

    @app.get("/held")
    async def held() -> dict[str, bool]:
        await gate.hold()
        return {"ok": True}

    @app.get("/quick")
    async def quick() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/fails")
    async def fails() -> None:
        raise RuntimeError("boom")

    return app


@pytest.fixture()
async def full(
    registry: HealthRegistry, make_client: ClientFactory
) -> AsyncIterator[tuple[httpx.AsyncClient, Gate, list[asyncio.Task[httpx.Response]]]]:
    """A client of an app with a limit of 2, both slots taken by held requests."""
    gate = Gate()
    async with make_client(_app(registry, gate, max_concurrent_requests=2)) as client:
        held = [asyncio.create_task(client.get("/held")) for _ in range(2)]
        await gate.wait_for(2)
        yield client, gate, held
        gate.open.set()
        await asyncio.gather(*held, return_exceptions=True)


async def test_a_request_over_the_limit_gets_an_immediate_problem_503(
    full: tuple[httpx.AsyncClient, Gate, list[asyncio.Task[httpx.Response]]],
) -> None:
    client, _gate, _held = full
    response = await client.get("/quick", headers={"X-Correlation-ID": "shed-1"})
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == "1"
    assert response.headers["x-correlation-id"] == "shed-1"
    body = response.json()
    assert body["code"] == "overloaded"
    assert body["correlation_id"] == "shed-1"
    assert body["instance"] == "/quick"
    assert "limit of 2 requests" in body["detail"]


async def test_probes_are_answered_while_the_service_is_full(
    full: tuple[httpx.AsyncClient, Gate, list[asyncio.Task[httpx.Response]]],
) -> None:
    client, _gate, _held = full
    assert (await client.get("/health/ready")).status_code == 200
    assert (await client.get("/health/live")).status_code == 200
    assert (await client.get("/quick")).status_code == 503


async def test_slots_come_back_when_held_requests_finish(
    full: tuple[httpx.AsyncClient, Gate, list[asyncio.Task[httpx.Response]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, gate, held = full
    with caplog.at_level(logging.WARNING, logger="internal_fastapi.admission"):
        assert [(await client.get("/quick")).status_code for _ in range(3)] == [503] * 3
        gate.open.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
        assert (await client.get("/quick")).status_code == 200
    messages = [r.getMessage() for r in caplog.records if r.name == "internal_fastapi.admission"]
    # One line when shedding starts and one when it ends, not one per refused request.
    assert messages == [
        "shedding load: 2 requests in flight, the limit; new requests get 503 overloaded",
        "load shedding ended: 3 requests refused",
    ]


async def test_a_failed_or_cancelled_request_gives_its_slot_back(
    registry: HealthRegistry, make_client: ClientFactory
) -> None:
    gate = Gate()
    async with make_client(_app(registry, gate, max_concurrent_requests=1)) as client:
        assert (await client.get("/fails")).status_code == 500
        assert (await client.get("/quick")).status_code == 200
        held = asyncio.create_task(client.get("/held"))
        await gate.wait_for(1)
        assert (await client.get("/quick")).status_code == 503
        held.cancel()
        with pytest.raises(asyncio.CancelledError):
            await held
        assert (await client.get("/quick")).status_code == 200


async def test_no_limit_admits_everything(registry: HealthRegistry, make_client: ClientFactory) -> None:
    gate = Gate()
    async with make_client(_app(registry, gate, max_concurrent_requests=None)) as client:
        held = [asyncio.create_task(client.get("/held")) for _ in range(150)]
        await gate.wait_for(150)
        assert (await client.get("/quick")).status_code == 200
        gate.open.set()
        assert {r.status_code for r in await asyncio.gather(*held)} == {200}


async def test_the_default_limit_is_100(registry: HealthRegistry, make_client: ClientFactory) -> None:
    gate = Gate()
    async with make_client(_app(registry, gate)) as client:
        held = [asyncio.create_task(client.get("/held")) for _ in range(100)]
        await gate.wait_for(100)
        response = await client.get("/quick")
        gate.open.set()
        assert {r.status_code for r in await asyncio.gather(*held)} == {200}
    assert response.status_code == 503


async def test_probes_under_a_custom_prefix_are_exempt(
    registry: HealthRegistry, make_client: ClientFactory
) -> None:
    gate = Gate()
    app = _app(registry, gate, max_concurrent_requests=1, health_prefix="/_health")
    async with make_client(app) as client:
        held = asyncio.create_task(client.get("/held"))
        await gate.wait_for(1)
        assert (await client.get("/_health/ready")).status_code == 200
        # A route that merely looks like a probe under another prefix is counted.
        assert (await client.get("/health/ready")).status_code == 503
        gate.open.set()
        assert (await held).status_code == 200


def test_overloaded_is_a_service_unavailable_error() -> None:
    error = OverloadedError("busy")
    assert (error.status_code, error.code) == (503, "overloaded")


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_concurrent_requests", 0), ("overload_retry_after", -1), ("overload_retry_after", 7200)],
)
def test_bad_settings_name_the_field(field: str, value: int) -> None:
    with pytest.raises(ValidationError, match=field):
        FastAPISettings(**{field: value})  # type: ignore[arg-type]


def test_bad_admission_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="limit must be at least 1"):
        Admission(0)
    with pytest.raises(ValueError, match="retry_after must be 0 or more"):
        Admission(5, retry_after=-1)
