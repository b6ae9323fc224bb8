"""A full app over real HTTP: uvicorn, PostgreSQL through internal_rdbms, Redis through internal_cache."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from internal_base.health import HealthRegistry

from .app_factory import build_app


@pytest.fixture(scope="module")
def base_url(serve_asgi: Callable[..., str], postgres_url: str, redis_url: str, redis_key_prefix: str) -> str:
    """The app served by uvicorn in a background thread."""
    app = build_app(postgres_url, redis_url, f"{redis_key_prefix}api:", HealthRegistry(cache_ttl=0))
    return serve_asgi(app)


@pytest.fixture()
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A real HTTP client."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        yield http


ADMIN = {"Authorization": "Bearer admin-token"}


async def test_create_then_read_a_user(client: httpx.AsyncClient) -> None:
    """A committed insert is visible to the next request; the envelope carries the correlation ID."""
    created = await client.post(
        "/users", json={"email": "ada@example.com"}, headers={**ADMIN, "X-Correlation-ID": "it-create"}
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["data"]["email"], body["correlation_id"]) == ("ada@example.com", "it-create")
    fetched = await client.get(f"/users/{body['data']['id']}")
    assert fetched.json() == body["data"]


async def test_missing_user_is_404(client: httpx.AsyncClient) -> None:
    """internal_rdbms.NotFoundError maps to a 404 problem."""
    response = await client.get("/users/999999")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert response.headers["content-type"] == "application/problem+json"


async def test_duplicate_email_is_409_without_the_value(client: httpx.AsyncClient) -> None:
    """A unique violation is a 409 whose body does not quote the row or the constraint."""
    await client.post("/users", json={"email": "dup@example.com"}, headers=ADMIN)
    response = await client.post("/users", json={"email": "dup@example.com"}, headers=ADMIN)
    assert (response.status_code, response.json()["code"]) == (409, "conflict")
    assert "dup@example.com" not in response.text
    assert "fastapi_it_users" not in response.text


async def test_unauthenticated_writes_are_401(client: httpx.AsyncClient) -> None:
    """Without the bearer token nothing is written."""
    response = await client.post("/users", json={"email": "eve@example.com"})
    assert response.status_code == 401
    listed = await client.get("/users", params={"limit": 20})
    assert "eve@example.com" not in listed.text


async def test_cursor_pages_cover_all_users(client: httpx.AsyncClient) -> None:
    """Keyset pages chained by next_cursor list every user once; a forged cursor is a 400."""
    for index in range(5):
        await client.post("/users", json={"email": f"page{index}@example.com"}, headers=ADMIN)
    emails: list[str] = []
    cursor: str | None = None
    for _ in range(50):
        body = (await client.get("/users", params={"cursor": cursor} if cursor else {})).json()
        emails += [user["email"] for user in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert {f"page{index}@example.com" for index in range(5)} <= set(emails)
    assert len(emails) == len(set(emails))
    forged = await client.get("/users", params={"cursor": "eyJpZCI6MX0"})
    assert (forged.status_code, forged.json()["code"]) == (400, "invalid_query")
    longer_than_rdbms_issues = await client.get("/users", params={"cursor": "x" * 5000})
    assert (longer_than_rdbms_issues.status_code, longer_than_rdbms_issues.json()["code"]) == (
        400,
        "invalid_query",
    )
    absurd = await client.get("/users", params={"cursor": "x" * 9000})
    assert (absurd.status_code, absurd.json()["code"]) == (400, "invalid_cursor")


async def test_cache_counter(client: httpx.AsyncClient) -> None:
    """The cache dependency talks to Redis: the counter increases per call."""
    counts = [(await client.post("/hits/home")).json()["hits"] for _ in range(3)]
    assert counts == [counts[0], counts[0] + 1, counts[0] + 2]


async def test_readiness_includes_database_and_cache(client: httpx.AsyncClient) -> None:
    """Both libraries registered their checks; readiness is 200 and healthy (details for the admin)."""
    response = await client.get("/health/ready", headers=ADMIN)
    body = response.json()
    assert response.status_code == 200
    assert {check["name"] for check in body["checks"]} >= {"rdbms", "redis"}
    assert body["status"] == "healthy"


async def test_anonymous_readiness_is_status_only(client: httpx.AsyncClient) -> None:
    """Without the token readiness says only the overall status."""
    response = await client.get("/health/ready")
    assert (response.status_code, response.json()) == (200, {"status": "healthy"})
