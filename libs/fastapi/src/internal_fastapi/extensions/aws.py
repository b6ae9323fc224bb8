"""FastAPI integration of ``internal_aws``: an app-scoped SQS client dependency.

Needs the ``internal-fastapi[aws]`` extra. The package root never imports this module. (Its imports
of the extra carry ``pants: no-infer-dep`` so that the wheel does not hard-require them.)

:func:`install_sqs` makes the app open one :class:`~internal_aws.SqsClient` when it starts and
close it when it stops; routes get it with :data:`SqsDep`. Messages sent while serving a request
carry its correlation ID and trace context (internal_aws's message attributes). An unreachable
endpoint or a timeout is a 503 problem (see :func:`internal_fastapi.default_error_mapper`).

Example::

    from internal_fastapi.extensions.aws import SqsDep, install_sqs

    app = FastAPI()
    install(app)
    install_sqs(app, queue_name="jobs")   # settings: AwsSettings.load() (env COMMONS_AWS_*, YAML aws:)

    @app.post("/jobs", status_code=202)
    async def submit(job: Job, sqs: SqsDep) -> dict[str, str]:
        return {"message_id": await sqs.send(job.model_dump_json())}
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request

from internal_base.errors import ConfigurationError
from internal_base.health import HealthRegistry
from internal_fastapi.extensions._lifespan import hold_for_lifespan

try:
    from internal_aws import AwsSettings, SqsClient  # pants: no-infer-dep
except ImportError as exc:  # pragma: no cover - the extra is in the test environment
    raise ImportError(
        f"internal_fastapi.extensions.aws needs internal_aws ({exc}); "
        "install the extra: pip install 'internal-fastapi[aws]'"
    ) from exc

__all__ = ["SqsDep", "get_sqs", "install_sqs", "setup_sqs"]

_STATE_KEY = "commons_sqs"


def install_sqs(
    app: FastAPI,
    settings: AwsSettings | None = None,
    *,
    health_registry: HealthRegistry | None = None,
    **options: Any,
) -> None:
    """Give ``app`` one :class:`~internal_aws.SqsClient`, opened when it starts, closed when it stops.

    The client is ``SqsClient(settings=settings, health_registry=..., **options)``, opened in the
    app's lifespan (around the app's own lifespan, so the client is there when it starts and while
    it shuts down).

    Args:
        app: The application.
        settings: None lets internal_aws load them (``AwsSettings.load()``: env ``COMMONS_AWS_*``,
            the ``aws`` YAML section).
        health_registry: Where the client registers its readiness check (internal_aws's rule: the
            process-wide registry when None and ``settings.health_check`` is on); it is removed when
            the app stops.
        **options: Passed to ``SqsClient`` (``queue_name=`` or ``queue_url=``, ``policy=`` ...).

    Raises:
        ConfigurationError: Called twice for the same app.
    """
    hold_for_lifespan(
        app,
        _STATE_KEY,
        lambda: SqsClient(settings=settings, health_registry=health_registry, **options),
        name="install_sqs",
    )


def setup_sqs(app: FastAPI, client: SqsClient) -> None:
    """Make ``client`` (one you open and close yourself) available to :func:`get_sqs`."""
    setattr(app.state, _STATE_KEY, client)


def get_sqs(request: Request) -> SqsClient:
    """Dependency: the app's SQS client (from :func:`install_sqs` or :func:`setup_sqs`).

    Raises:
        ConfigurationError: No client: neither function was called, or the app's lifespan did not
            run (e.g. uvicorn with ``--lifespan off``), or the app has stopped.
    """
    client = getattr(request.app.state, _STATE_KEY, None)
    if not isinstance(client, SqsClient):
        raise ConfigurationError(
            "no SQS client: call internal_fastapi.extensions.aws.install_sqs() "
            "and run the app with its lifespan"
        )
    return client


SqsDep = Annotated[SqsClient, Depends(get_sqs)]
"""The app-scoped :class:`~internal_aws.SqsClient`: ``async def route(sqs: SqsDep)``."""
