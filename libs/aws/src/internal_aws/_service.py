"""Base class of the service clients: session, botocore config, lifecycle, health, resilience, errors."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, ClassVar, Self

from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from internal_aws._boto import client_config, is_aws_error, translate
from internal_aws._config import AwsSettings
from internal_aws._errors import AwsError, AwsNotFoundError, AwsTimeoutError, AwsUnavailableError
from internal_aws._telemetry import STATE, error_type, rpc_service, start_span
from internal_aws.auth._credentials import AwsCredentials
from internal_base.errors import CircuitOpenError
from internal_base.health import HealthRegistry, default_registry
from internal_base.resilience import ResiliencePolicy

__all__ = ["ServiceClient", "operation_name"]


def operation_name(method: str) -> str:
    """``"get_object"`` → ``"GetObject"`` (the API operation name of a client method)."""
    return "".join(part[:1].upper() + part[1:] for part in method.split("_"))


class ServiceClient:
    """Owns one aiobotocore client; subclasses add the service's operations.

    Args:
        settings: Endpoint, timeouts, retries (default: ``AwsSettings.load()``: env, the YAML file
            named by ``COMMONS_CONFIG_FILE``, ``.env``, defaults).
        session: An existing ``aioboto3.Session`` to reuse (default: one built from the credentials).
        credentials: Overrides the credentials part of ``settings``.
        policy: The ``ResiliencePolicy`` around every call (default: built from
            ``settings.resilience``). botocore makes one attempt per policy attempt, so calls are
            never retried twice over.
        health_registry: Registry for the readiness check (default: the process-wide registry when
            ``settings.health_check``; pass a registry to register there instead).
    """

    service: ClassVar[str] = ""
    not_found: ClassVar[type[AwsNotFoundError]] = AwsNotFoundError

    def __init__(
        self,
        *,
        settings: AwsSettings | None = None,
        session: Any | None = None,
        credentials: AwsCredentials | None = None,
        policy: ResiliencePolicy | None = None,
        health_registry: HealthRegistry | None = None,
    ) -> None:
        self.settings = settings if settings is not None else AwsSettings.load()
        self.credentials = (
            credentials if credentials is not None else AwsCredentials.from_settings(self.settings)
        )
        self.policy = policy if policy is not None else self.settings.resilience_policy(f"aws.{self.service}")
        self._session = session
        self._health = (
            health_registry
            if health_registry is not None
            else (default_registry() if self.settings.health_check else None)
        )
        self._client: Any | None = None
        self._stack: AsyncExitStack | None = None
        self._health_name: str | None = None

    @property
    def session(self) -> Any:
        """The ``aioboto3.Session`` in use (created on first access when none was given)."""
        if self._session is None:
            self._session = self.credentials.session()
        return self._session

    @property
    def health_registry(self) -> HealthRegistry | None:
        """The registry this client's readiness check goes to (None: no check is registered)."""
        return self._health

    @property
    def config(self) -> Any:
        """The botocore ``Config`` the client is created with."""
        return client_config(self.settings, self.service)

    @property
    def client(self) -> Any:
        """The real aioboto3 (aiobotocore) client, for operations this wrapper does not cover.

        Raises:
            AwsError: The client is not open (use ``async with``).
        """
        if self._client is None:
            raise AwsError(f"the {self.service} client is not open; use 'async with'")
        return self._client

    @property
    def is_open(self) -> bool:
        """Whether the client is open (entered or :meth:`open` ran, and :meth:`aclose` has not)."""
        return self._client is not None

    def health_check_name(self) -> str:
        """Name of the readiness check; subclasses include their resource (``aws.s3:<bucket>``)."""
        return f"aws.{self.service}"

    async def ping(self) -> None:
        """The readiness check: one cheap call that proves endpoint, credentials and resource."""
        raise NotImplementedError

    async def open(self) -> Self:
        """Create the client (idempotent) and register the readiness check.

        Raises:
            AwsConfigurationError: Unknown profile, missing region or similar.
        """
        if self._client is not None:
            return self
        stack = AsyncExitStack()
        try:
            # Inside the try: building the session reads the profile, which botocore may reject.
            factory = self.session.client(
                self.service, config=self.config, **self.credentials.client_kwargs()
            )
            self._client = await stack.enter_async_context(factory)
        except Exception as exc:
            await stack.aclose()
            if is_aws_error(exc):
                raise translate(exc, "CreateClient") from exc
            raise
        self._stack = stack
        if self._health is not None:
            self._health_name = self.health_check_name()
            self._health.register(self._health_name, self.ping)
        return self

    async def aclose(self) -> None:
        """Unregister the readiness check and close the client (idempotent)."""
        if self._health is not None and self._health_name is not None:
            self._health.unregister(self._health_name, self.ping)
            self._health_name = None
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _call(
        self,
        method: str,
        /,
        *,
        not_found: type[AwsNotFoundError] | None = None,
        patience: float = 0.0,
        **params: Any,
    ) -> dict[str, Any]:
        """Call ``client.<method>(**params)`` under the policy; botocore errors become ``AwsError``.

        An open breaker becomes :class:`AwsUnavailableError` with its ``retry_after``, an attempt
        over the policy's ``timeout`` :class:`AwsTimeoutError`. ``patience`` adds seconds to that
        timeout for calls that wait on purpose (SQS long polls).
        """
        operation = operation_name(method)
        missing = not_found if not_found is not None else self.not_found
        client = self.client
        policy = self.policy
        if patience > 0 and policy.timeout is not None:
            policy = dataclasses.replace(policy, timeout=policy.timeout + patience)

        async def once() -> dict[str, Any]:
            try:
                result: dict[str, Any] = await getattr(client, method)(**params)
            except Exception as exc:
                if is_aws_error(exc):
                    raise translate(exc, operation, not_found=missing) from exc
                raise
            return result

        if not STATE.enabled:
            return await self._run(policy, once, operation)
        attributes: dict[str, AttributeValue] = {
            "rpc.system": "aws-api",
            "rpc.service": rpc_service(self.service),
            "rpc.method": operation,
            **self._span_attributes(params),
        }
        if self.settings.region:
            attributes["cloud.region"] = self.settings.region
        name = f"{rpc_service(self.service)}.{operation}"
        with start_span(name, SpanKind.CLIENT, attributes) as current:
            try:
                response = await self._run(policy, once, operation)
            except Exception as exc:
                current.set_attribute("error.type", error_type(exc))
                raise
            request_id = response.get("ResponseMetadata", {}).get("RequestId")
            if request_id:
                current.set_attribute("aws.request_id", str(request_id))
            return response

    def _span_attributes(self, params: Mapping[str, Any]) -> dict[str, AttributeValue]:
        """Span attributes naming the resource of a call (subclasses: bucket, table, queue)."""
        return {}

    @staticmethod
    async def _run(policy: ResiliencePolicy, once: Any, operation: str) -> dict[str, Any]:
        try:
            result: dict[str, Any] = await policy.run(once)
        except AwsError:
            raise
        except TimeoutError as exc:  # the policy's per-attempt timeout (botocore's are AwsErrors)
            message = f"{operation} timed out after {policy.timeout} s"
            raise AwsTimeoutError(message, operation=operation) from exc
        except CircuitOpenError as exc:
            raise AwsUnavailableError(
                f"{operation} not attempted: circuit {exc.name!r} is open "
                f"(retry after {exc.retry_after:.1f} s)",
                operation=operation,
                retry_after=exc.retry_after,
            ) from exc
        return result
