"""SqsDep: an app-scoped internal_aws SQS client against the moto server, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from internal_aws import AwsSettings, SqsClient
from internal_base.errors import ConfigurationError
from internal_base.health import HealthRegistry
from internal_fastapi import FastAPISettings, install
from internal_fastapi.extensions.aws import SqsDep, get_sqs, install_sqs, setup_sqs


@pytest.fixture()
def aws_settings(aws_endpoint_url: str) -> AwsSettings:
    """Settings for the moto server (fake keys)."""
    return AwsSettings.model_validate(
        {
            "endpoint_url": aws_endpoint_url,
            "region": "us-east-1",
            "access_key_id": "testing",
            "secret_access_key": "testing",
        }
    )


@pytest.fixture()
async def queue(aws_settings: AwsSettings, unique_name: str) -> str:
    """A fresh queue's name."""
    async with SqsClient(settings=aws_settings, queue_name=unique_name) as sqs:
        await sqs.create_queue()
    return unique_name


def _app(settings: Any, **options: Any) -> FastAPI:
    app = FastAPI()
    install(app, FastAPISettings(log_requests=False), health_registry=HealthRegistry())
    install_sqs(app, settings, **options)

    @app.post("/jobs")
    async def submit(request: Request, sqs: SqsDep) -> dict[str, str]:
        return {"message_id": await sqs.send((await request.body()).decode())}

    return app


async def test_routes_send_with_the_request_correlation(
    serve_asgi: Callable[..., str], aws_settings: AwsSettings, queue: str
) -> None:
    """A route's message reaches the queue carrying the request's correlation ID."""
    app = _app(aws_settings, queue_name=queue)
    async with httpx.AsyncClient(base_url=serve_asgi(app), timeout=60) as http:
        response = await http.post("/jobs", content=b"job-1", headers={"X-Correlation-ID": "it-sqs-7"})
    assert response.status_code == 200
    async with SqsClient(settings=aws_settings, queue_name=queue) as sqs:
        received = await sqs.receive(wait_time=10)
    assert [(m.message_id, m.body) for m in received] == [(response.json()["message_id"], "job-1")]
    assert received[0].attributes["X-Correlation-ID"] == "it-sqs-7"


async def test_one_client_per_app_closed_at_shutdown(aws_settings: AwsSettings, queue: str) -> None:
    """The lifespan opens the client once and closes it at shutdown."""
    app = _app(aws_settings, queue_name=queue)
    async with app.router.lifespan_context(app):
        client = app.state.commons_sqs
        assert isinstance(client, SqsClient)
        open_while_serving = client.is_open
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            assert (await http.post("/jobs", content=b"job-2")).status_code == 200
        assert app.state.commons_sqs is client
    assert (open_while_serving, client.is_open) == (True, False)
    assert app.state.commons_sqs is None


async def test_settings_come_from_the_yaml_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, aws_endpoint_url: str
) -> None:
    """Without settings, the client reads internal_aws's settings, YAML file included."""
    config = tmp_path / "service.yaml"
    config.write_text(f"aws:\n  region: eu-west-3\n  endpoint_url: {aws_endpoint_url}\n")
    monkeypatch.setenv("COMMONS_CONFIG_FILE", str(config))
    app = _app(None, queue_name="unused")
    async with app.router.lifespan_context(app):
        client = get_sqs(Request({"type": "http", "app": app}))
        assert (client.settings.region, client.settings.endpoint_url) == ("eu-west-3", aws_endpoint_url)


async def test_without_the_lifespan_the_dependency_is_a_configuration_error(
    aws_settings: AwsSettings,
) -> None:
    """A route served without the lifespan (no client yet) is a 500 configuration_error."""
    app = _app(aws_settings, queue_name="unused")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        response = await http.post("/jobs", content=b"x")
    assert (response.status_code, response.json()["code"]) == (500, "configuration_error")


def test_installing_twice_is_refused(aws_settings: AwsSettings) -> None:
    """A second install_sqs on one app would open two clients, so it is refused."""
    app = FastAPI()
    install_sqs(app, aws_settings, queue_name="a")
    with pytest.raises(ConfigurationError, match="install_sqs"):
        install_sqs(app, aws_settings, queue_name="b")


async def test_a_client_of_your_own_can_be_handed_over(aws_settings: AwsSettings, queue: str) -> None:
    """``setup_sqs`` serves a client the app's own lifespan opens and closes."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with SqsClient(settings=aws_settings, queue_name=queue) as sqs:
            setup_sqs(app, sqs)
            yield

    app = FastAPI(lifespan=lifespan)
    install(app, FastAPISettings(log_requests=False), health_registry=HealthRegistry())

    @app.post("/jobs")
    async def submit(sqs: SqsDep) -> dict[str, str]:
        return {"message_id": await sqs.send("own-client")}

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            sent = (await http.post("/jobs")).json()["message_id"]
    async with SqsClient(settings=aws_settings, queue_name=queue) as sqs:
        received = await sqs.receive(wait_time=10)
    assert [(m.message_id, m.body) for m in received] == [(sent, "own-client")]


async def test_the_clients_health_check_lives_as_long_as_the_app(
    aws_settings: AwsSettings, queue: str
) -> None:
    """``health_registry=`` gets the client's check when the app starts; it is gone when it stops."""
    registry = HealthRegistry(cache_ttl=0)
    app = _app(aws_settings, queue_name=queue, health_registry=registry)
    assert registry.names == []
    async with app.router.lifespan_context(app):
        names_while_serving = registry.names
        healthy = (await registry.readiness()).status.value
    assert (names_while_serving, healthy, registry.names) == ([f"aws.sqs:{queue}"], "healthy", [])
