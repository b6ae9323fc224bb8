"""Bearer authentication and settings dependencies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from internal_base.errors import ConfigurationError
from internal_fastapi import (
    BearerAuth,
    FastAPISettings,
    StaticTokenVerifier,
    UnauthorizedError,
    bearer_token,
    settings_dependency,
)

ClientFactory = Callable[[FastAPI], httpx.AsyncClient]


async def strict_verifier(token: str) -> str | None:
    """Accept ``good``; reject ``revoked`` loudly; anything else is unknown (None)."""
    if token == "revoked":
        raise UnauthorizedError("token revoked", code="token_revoked")
    return "alice" if token == "good" else None


# Module level: with postponed annotations, FastAPI resolves route annotations in module globals.
required = BearerAuth(strict_verifier)
optional = BearerAuth(StaticTokenVerifier({"k1": "svc"}), optional=True, scheme_name="service")
get_settings = settings_dependency(FastAPISettings, access_logger="custom")


@pytest.fixture()
def auth_app(app: FastAPI) -> FastAPI:
    """Routes behind required, optional and raw bearer dependencies."""

    @app.get("/me")
    async def me(user: Annotated[str, Depends(required)]) -> dict[str, str]:
        return {"user": user}

    @app.get("/maybe")
    async def maybe(user: Annotated[str | None, Depends(optional)]) -> dict[str, str | None]:
        return {"user": user}

    @app.get("/raw")
    async def raw(token: Annotated[str, Depends(bearer_token)]) -> dict[str, int]:
        return {"length": len(token)}

    return app


async def test_valid_token_reaches_the_route(auth_app: FastAPI, make_client: ClientFactory) -> None:
    """The verifier's principal is what the route receives (scheme is case-insensitive)."""
    async with make_client(auth_app) as client:
        response = await client.get("/me", headers={"Authorization": "bearer good"})
    assert response.json() == {"user": "alice"}


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_token"),
        ("Basic dXNlcjpwYXNz", "invalid_authorization_header"),
        ("Bearer", "invalid_authorization_header"),
        ("Bearer a b", "invalid_authorization_header"),
        ("Bearer nope", "invalid_token"),
        ("Bearer revoked", "token_revoked"),
    ],
)
async def test_rejections_are_401_problems(
    auth_app: FastAPI, make_client: ClientFactory, header: str | None, code: str
) -> None:
    """Missing, malformed, unknown and revoked tokens give a 401 with WWW-Authenticate; no token echo."""
    headers = {"Authorization": header} if header else {}
    async with make_client(auth_app) as client:
        response = await client.get("/me", headers=headers)
    assert (response.status_code, response.json()["code"]) == (401, code)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "dXNlcjpwYXNz" not in response.text
    assert "nope" not in response.text


async def test_invalid_token_names_the_error(auth_app: FastAPI, make_client: ClientFactory) -> None:
    """An unknown token sends the RFC 6750 ``error="invalid_token"`` challenge."""
    async with make_client(auth_app) as client:
        response = await client.get("/me", headers={"Authorization": "Bearer nope"})
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_optional_auth(auth_app: FastAPI, make_client: ClientFactory) -> None:
    """Optional auth gives None without a header, the principal with a good token, 401 with a bad one."""
    async with make_client(auth_app) as client:
        anonymous = await client.get("/maybe")
        service = await client.get("/maybe", headers={"Authorization": "Bearer k1"})
        wrong = await client.get("/maybe", headers={"Authorization": "Bearer k2"})
    assert (anonymous.json(), service.json(), wrong.status_code) == ({"user": None}, {"user": "svc"}, 401)


async def test_raw_bearer_token(auth_app: FastAPI, make_client: ClientFactory) -> None:
    """``bearer_token`` extracts without verifying; absence is a 401."""
    async with make_client(auth_app) as client:
        present = await client.get("/raw", headers={"Authorization": "Bearer abcdef"})
        absent = await client.get("/raw")
    assert (present.json(), absent.status_code) == ({"length": 6}, 401)


def test_security_schemes_are_documented(auth_app: FastAPI) -> None:
    """Both bearer schemes appear in OpenAPI under their names."""
    schemes = auth_app.openapi()["components"]["securitySchemes"]
    assert schemes == {
        "bearer": {"type": "http", "scheme": "bearer"},
        "service": {"type": "http", "scheme": "bearer"},
    }


async def test_settings_dependency_loads_once(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The settings are loaded on first use, then reused; overrides win over the environment."""
    monkeypatch.setenv("COMMONS_FASTAPI_HEALTH_PREFIX", "/from-env")
    app = FastAPI()

    @app.get("/settings")
    async def read(settings: Annotated[FastAPISettings, Depends(get_settings)]) -> dict[str, object]:
        return {"prefix": settings.health_prefix, "logger": settings.access_logger, "id": id(settings)}

    async with make_client(app) as client:
        first = (await client.get("/settings")).json()
        second = (await client.get("/settings")).json()
    assert (first["prefix"], first["logger"]) == ("/from-env", "custom")
    assert first["id"] == second["id"]
    assert get_settings.__name__ == "get_FastAPISettings"


async def test_settings_dependency_reports_invalid_settings(make_client: ClientFactory) -> None:
    """Invalid settings surface as a ConfigurationError naming the field (a 500 for clients)."""
    get_settings = settings_dependency(FastAPISettings, max_id_length=1)
    with pytest.raises(ConfigurationError, match="max_id_length"):
        get_settings()


async def test_static_verifier_is_exact() -> None:
    """Only exact tokens match; prefixes and other tokens do not."""
    verifier = StaticTokenVerifier({"token-a": 1, "token-b": 2})
    assert [await verifier(t) for t in ("token-a", "token-b", "token", "token-ab")] == [1, 2, None, None]
