"""Offset, page-number and cursor pagination: query validation, cursors, tampering."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from internal_base.cursor import InvalidCursorError as BaseInvalidCursorError
from internal_base.errors import ConfigurationError
from internal_fastapi import (
    CursorCodec,
    CursorPageResponse,
    CursorParams,
    InvalidCursorError,
    OffsetPageResponse,
    OffsetParams,
    PageParams,
    PageResponse,
    cursor_pagination,
    offset_pagination,
    page_pagination,
)

ClientFactory = Callable[[FastAPI], httpx.AsyncClient]
ROWS = list(range(1, 24))
# Module level: with postponed annotations, FastAPI resolves route annotations in module globals.
offsets = offset_pagination(max_limit=10)
pages = page_pagination(default_size=5, max_size=10)
cursors = cursor_pagination(default_limit=5, max_limit=10)


@pytest.fixture()
def paged_app(app: FastAPI) -> FastAPI:
    """Routes paginating ``ROWS`` in the three styles."""

    @app.get("/offset")
    async def by_offset(params: Annotated[OffsetParams, Depends(offsets)]) -> OffsetPageResponse[int]:
        return OffsetPageResponse[int].create(
            ROWS[params.offset : params.offset + params.limit],
            limit=params.limit,
            offset=params.offset,
            total=len(ROWS),
        )

    @app.get("/pages")
    async def by_page(params: Annotated[PageParams, Depends(pages)]) -> PageResponse[int]:
        items = ROWS[params.offset : params.offset + params.limit]
        return PageResponse[int].create(items, page=params.page, size=params.size, total=len(ROWS))

    @app.get("/cursor")
    async def by_cursor(params: Annotated[CursorParams, Depends(cursors)]) -> CursorPageResponse[int]:
        after = params.position["after"] if params.position else 0
        rows = [row for row in ROWS if row > after][: params.limit + 1]
        items = rows[: params.limit]
        next_position = {"after": items[-1]} if len(rows) > params.limit else None
        return CursorPageResponse[int](
            items=items, limit=params.limit, next_cursor=params.next_cursor(next_position)
        )

    return app


async def test_offset_defaults_and_next_offset(paged_app: FastAPI, make_client: ClientFactory) -> None:
    """Defaults are min(50, max) and offset 0; ``next_offset`` points past the page."""
    async with make_client(paged_app) as client:
        first = (await client.get("/offset")).json()
        last = (await client.get("/offset?limit=10&offset=20")).json()
    assert (first["limit"], first["offset"], first["items"][:2], first["next_offset"]) == (10, 0, [1, 2], 10)
    assert (last["items"], last["total"], last["next_offset"]) == ([21, 22, 23], 23, None)


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("limit=0", ["query.limit"]),
        ("limit=11", ["query.limit"]),
        ("offset=-1", ["query.offset"]),
        ("offset=9223372036854775808", ["query.offset"]),
        ("limit=abc&offset=x", ["query.limit", "query.offset"]),
    ],
)
async def test_offset_params_are_validated(
    paged_app: FastAPI, make_client: ClientFactory, query: str, fields: list[str]
) -> None:
    """Out-of-range or non-integer values give a 422 naming the parameters."""
    async with make_client(paged_app) as client:
        response = await client.get(f"/offset?{query}")
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == fields


async def test_page_numbers(paged_app: FastAPI, make_client: ClientFactory) -> None:
    """Page 2 of size 5 holds rows 6..10; ``pages`` is rounded up; page 0 is a 422."""
    async with make_client(paged_app) as client:
        second = (await client.get("/pages?page=2")).json()
        zero = await client.get("/pages?page=0")
        too_big = await client.get("/pages?size=11")
    assert (second["items"], second["pages"], second["size"]) == ([6, 7, 8, 9, 10], 5, 5)
    assert [e["field"] for e in zero.json()["errors"]] == ["query.page"]
    assert [e["field"] for e in too_big.json()["errors"]] == ["query.size"]


async def test_cursor_walk_returns_every_row_once(paged_app: FastAPI, make_client: ClientFactory) -> None:
    """Following ``next_cursor`` visits every row exactly once and ends with None."""
    seen: list[int] = []
    cursor: str | None = None
    async with make_client(paged_app) as client:
        for _ in range(10):
            params = {"cursor": cursor} if cursor else {}
            body = (await client.get("/cursor", params=params)).json()
            seen.extend(body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                break
    assert seen == ROWS


def _tamper(cursor: str) -> str:
    body, _, tag = cursor.partition(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["after"] = 0
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{forged}.{tag}"


async def test_tampered_cursors_are_400(paged_app: FastAPI, make_client: ClientFactory) -> None:
    """Edited, garbage, untagged or over-long cursors give a 400 ``invalid_cursor``, never a 500."""
    good = CursorCodec().encode({"after": 5})
    bad = [_tamper(good), "not-a-cursor", good.split(".")[0], "!!!.???", good + "x", "a" * 3000, "."]
    async with make_client(paged_app) as client:
        responses = [await client.get("/cursor", params={"cursor": cursor}) for cursor in bad]
    assert [r.status_code for r in responses] == [400] * len(bad)
    assert {r.json()["code"] for r in responses} == {"invalid_cursor"}
    assert all(r.json()["detail"].startswith("invalid cursor") for r in responses)


async def test_empty_cursor_means_first_page(paged_app: FastAPI, make_client: ClientFactory) -> None:
    """``?cursor=`` is the first page."""
    async with make_client(paged_app) as client:
        body = (await client.get("/cursor?cursor=")).json()
    assert body["items"] == [1, 2, 3, 4, 5]


def _forge(payload: bytes, purpose: str, key: bytes) -> str:
    """A token in the documented format, validly signed over arbitrary bytes."""
    message = b"v1:%d:%s:%s" % (len(purpose.encode()), purpose.encode(), payload)
    tag = hmac.new(key, message, hashlib.sha256).digest()[:16]
    return f"{_b64(payload)}.{_b64(tag)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_codec_round_trip_and_secret() -> None:
    """A cursor decodes to its position; another secret rejects it with the 400 error class."""
    codec = CursorCodec("s" * 32)
    cursor = codec.encode({"id": 7, "name": "x"})
    assert codec.decode(cursor) == {"id": 7, "name": "x"}
    assert "=" not in cursor
    assert "+" not in cursor
    assert "/" not in cursor
    with pytest.raises(InvalidCursorError, match="not a cursor issued") as caught:
        CursorCodec("t" * 32).decode(cursor)
    assert (caught.value.status_code, caught.value.code) == (400, "invalid_cursor")


def test_codec_errors_are_base_cursor_errors() -> None:
    """internal_fastapi's cursor error is also internal_base's, so either catch works."""
    with pytest.raises(BaseInvalidCursorError):
        CursorCodec("s" * 32).decode("garbage")


@pytest.mark.parametrize("payload", [b"[1, 2]", b"\xff not json", b"[" * 3000 + b"]" * 3000])
def test_codec_rejects_non_object_or_non_json_payloads(payload: bytes) -> None:
    """A correctly signed payload that is not a JSON object is still an invalid cursor."""
    key = "s" * 32
    with pytest.raises(InvalidCursorError, match="unreadable content"):
        CursorCodec(key, max_length=16384).decode(_forge(payload, "p", key.encode()), purpose="p")


def test_codec_rejects_short_secrets() -> None:
    """Secrets under 16 bytes are a configuration error."""
    with pytest.raises(ConfigurationError, match="at least 16 bytes"):
        CursorCodec("short")


@pytest.mark.parametrize(
    ("factory", "kwargs"),
    [
        (offset_pagination, {"default_limit": 20, "max_limit": 10}),
        (page_pagination, {"default_size": 0}),
        (cursor_pagination, {"max_limit": 0}),
    ],
)
def test_factories_validate_their_sizes(factory: Callable[..., Any], kwargs: dict[str, int]) -> None:
    """A default outside 1..max, or a max below 1, is refused at definition time."""
    with pytest.raises(ConfigurationError, match="page size"):
        factory(**kwargs)


def test_page_params_arithmetic() -> None:
    """Page 3 of size 10 skips 20 rows and fetches 10."""
    params = PageParams(page=3, size=10)
    assert (params.offset, params.limit) == (20, 10)


def test_next_cursor_is_none_on_the_last_page() -> None:
    """No position means no next page."""
    assert CursorParams(limit=5).next_cursor(None) is None
