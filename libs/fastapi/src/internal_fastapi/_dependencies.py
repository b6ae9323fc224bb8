"""Dependencies: settings, bearer-token authentication with a pluggable verifier.

Database sessions and cache clients live in ``internal_fastapi.extensions.rdbms`` and
``internal_fastapi.extensions.cache`` (import them explicitly; they need the extras).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

from fastapi import Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase

from internal_base.settings import LibrarySettings
from internal_fastapi._errors import UnauthorizedError

__all__ = [
    "BearerAuth",
    "StaticTokenVerifier",
    "TokenVerifier",
    "bearer_token",
    "settings_dependency",
]

P = TypeVar("P")
S = TypeVar("S", bound=LibrarySettings)

#: Checks a bearer token and returns the principal it stands for; returns None or raises
#: :class:`UnauthorizedError` when the token is not valid.
TokenVerifier = Callable[[str], Awaitable[P | None]]


def settings_dependency(settings_cls: type[S], **overrides: Any) -> Callable[[], S]:
    """A dependency returning ``settings_cls.load(**overrides)``, loaded once on first use.

    Override it in tests with ``app.dependency_overrides[dep] = lambda: MySettings(...)``.

    Raises:
        ConfigurationError: On first use, when the settings are invalid.
    """
    loaded: list[S] = []

    def dependency() -> S:
        if not loaded:
            loaded.append(settings_cls.load(**overrides))
        return loaded[0]

    dependency.__name__ = f"get_{settings_cls.__name__}"
    dependency.__qualname__ = dependency.__name__
    return dependency


def _parse_bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; raises on other shapes."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise UnauthorizedError(
            "Authorization header must be 'Bearer <token>'",
            code="invalid_authorization_header",
        )
    return token


def bearer_token(request: Request) -> str:
    """Dependency: the bearer token of the request (401 when missing or malformed); not verified."""
    token = _parse_bearer(request.headers.get("authorization"))
    if token is None:
        raise UnauthorizedError("missing bearer token", code="missing_token")
    return token


class BearerAuth(SecurityBase, Generic[P]):
    """Dependency authenticating ``Authorization: Bearer <token>`` with a pluggable verifier.

    Shows up in OpenAPI as an HTTP bearer security scheme. The verifier's principal is what
    the route receives. Missing, malformed or rejected tokens give a 401 problem with
    ``WWW-Authenticate: Bearer``; the token never appears in the response or the logs.

    Args:
        verifier: ``async (token) -> principal | None``.
        optional: Return None instead of a 401 when no Authorization header is sent.
        scheme_name: Name of the security scheme in OpenAPI.

    Example:
        ``auth = BearerAuth(verify_jwt)``
        ``async def me(user: Annotated[User, Depends(auth)]) -> User: ...``
    """

    def __init__(
        self,
        verifier: TokenVerifier[P],
        *,
        optional: bool = False,
        scheme_name: str = "bearer",
    ) -> None:
        self.verifier = verifier
        self.optional = optional
        self.model = HTTPBearerModel()
        self.scheme_name = scheme_name

    async def __call__(self, request: Request) -> P | None:
        """Authenticate the request."""
        token = _parse_bearer(request.headers.get("authorization"))
        if token is None:
            if self.optional:
                return None
            raise UnauthorizedError("missing bearer token", code="missing_token")
        principal = await self.verifier(token)
        if principal is None:
            raise UnauthorizedError(
                "invalid or expired token",
                code="invalid_token",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return principal


class StaticTokenVerifier(Generic[P]):
    """A verifier for a fixed set of tokens (service-to-service keys, tests).

    Comparison is constant-time per token.

    Args:
        tokens: Token → principal.
    """

    def __init__(self, tokens: Mapping[str, P]) -> None:
        self._tokens = [(token.encode(), principal) for token, principal in tokens.items()]

    async def __call__(self, token: str) -> P | None:
        """The principal of ``token``, or None."""
        given = token.encode()
        found: P | None = None
        for known, principal in self._tokens:
            if hmac.compare_digest(known, given):
                found = principal
        return found
