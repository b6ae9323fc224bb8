"""Pagination query parameters (offset, page number, cursor) and opaque cursors.

Each ``*_pagination`` factory returns a FastAPI dependency whose query parameters are
validated by FastAPI (bad values give a 422 naming ``query.limit`` ...). Cursors are
base64url-encoded JSON objects followed by a truncated HMAC-SHA256 tag, so a cursor that
was edited, truncated or made for something else is rejected with a 400, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

from fastapi import Query

from internal_base.errors import ConfigurationError
from internal_fastapi._errors import BadRequestError

__all__ = [
    "CursorCodec",
    "CursorParams",
    "InvalidCursorError",
    "OffsetParams",
    "PageParams",
    "cursor_pagination",
    "offset_pagination",
    "page_pagination",
]

_DEFAULT_KEY: Final = b"internal-fastapi-cursor-v1"
_TAG_BYTES: Final = 12
_MAX_CURSOR_LENGTH: Final = 2048
_DEFAULT_SIZE: Final = 50
_MAX_OFFSET: Final = 2**63 - 1  # the largest OFFSET databases accept


class InvalidCursorError(BadRequestError):
    """400: the cursor is not one this API issued (tampered, truncated or expired format)."""

    code = "invalid_cursor"


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Encode a JSON object into an opaque URL-safe cursor and verify it on the way back.

    Without a ``secret`` the tag only catches corrupted or hand-edited cursors; give a secret
    (e.g. from settings) when a forged cursor must not be able to reach your query.

    Args:
        secret: HMAC key (str or bytes).
        max_length: Longest cursor accepted by :meth:`decode`.
    """

    def __init__(self, secret: str | bytes | None = None, *, max_length: int = _MAX_CURSOR_LENGTH) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        if key is not None and len(key) < 16:
            raise ConfigurationError("cursor secret must be at least 16 bytes long")
        self._key = key or _DEFAULT_KEY
        self.max_length = max_length

    def _tag(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_TAG_BYTES]

    def encode(self, position: Mapping[str, Any]) -> str:
        """Turn ``position`` (JSON-serialisable values) into a cursor string.

        Raises:
            TypeError: A value is not JSON-serialisable.
        """
        payload = json.dumps(dict(position), separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64encode(payload)}.{_b64encode(self._tag(payload))}"

    def decode(self, cursor: str) -> dict[str, Any]:
        """Verify and decode ``cursor``.

        Raises:
            InvalidCursorError: The cursor is too long, malformed or its tag does not match.
        """
        if len(cursor) > self.max_length:
            raise InvalidCursorError(f"invalid cursor: longer than {self.max_length} characters")
        body, dot, tag = cursor.partition(".")
        try:
            payload, given = _b64decode(body), _b64decode(tag)
        except (binascii.Error, ValueError):
            raise InvalidCursorError("invalid cursor: not a cursor issued by this API") from None
        if not dot or not hmac.compare_digest(given, self._tag(payload)):
            raise InvalidCursorError("invalid cursor: not a cursor issued by this API")
        try:
            position = json.loads(payload)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            raise InvalidCursorError("invalid cursor: unreadable content") from None
        if not isinstance(position, dict):
            raise InvalidCursorError("invalid cursor: unreadable content")
        return position


@dataclass(frozen=True, slots=True)
class OffsetParams:
    """``?limit=&offset=`` query parameters."""

    limit: int
    offset: int


@dataclass(frozen=True, slots=True)
class PageParams:
    """``?page=&size=`` query parameters (1-based pages)."""

    page: int
    size: int

    @property
    def offset(self) -> int:
        """Rows to skip."""
        return (self.page - 1) * self.size

    @property
    def limit(self) -> int:
        """Rows to fetch (= ``size``)."""
        return self.size


@dataclass(frozen=True, slots=True)
class CursorParams:
    """``?cursor=&limit=`` query parameters; ``position`` is the decoded cursor (None on page 1)."""

    limit: int
    cursor: str | None = None
    position: dict[str, Any] | None = None
    codec: CursorCodec = field(default_factory=CursorCodec, repr=False, compare=False)

    def next_cursor(self, position: Mapping[str, Any] | None) -> str | None:
        """Encode the position after the last item of this page (None: no next page)."""
        return None if position is None else self.codec.encode(position)


def _check_sizes(default: int | None, maximum: int) -> int:
    if maximum < 1:
        raise ConfigurationError(f"maximum page size must be at least 1, got {maximum}")
    chosen = min(_DEFAULT_SIZE, maximum) if default is None else default
    if not 1 <= chosen <= maximum:
        raise ConfigurationError(f"default page size must be in 1..{maximum}, got {chosen}")
    return chosen


def _with_signature(fn: Callable[..., Any], params: list[inspect.Parameter], result: type) -> None:
    # FastAPI reads this signature; the annotations are real objects, so the limits
    # chosen by the factory call are visible to it (string annotations could not see them).
    fn.__signature__ = inspect.Signature(params, return_annotation=result)  # type: ignore[attr-defined]


def _query(name: str, annotation: object, default: object) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def offset_pagination(
    *, default_limit: int | None = None, max_limit: int = 100
) -> Callable[..., OffsetParams]:
    """A dependency reading ``limit`` (1..``max_limit``) and ``offset`` (0..2**63-1).

    ``default_limit`` defaults to ``min(50, max_limit)``.

    Example:
        ``async def list_items(p: Annotated[OffsetParams, Depends(offset_pagination())])``
    """
    default_limit = _check_sizes(default_limit, max_limit)

    def dependency(**values: int) -> OffsetParams:
        return OffsetParams(limit=values["limit"], offset=values["offset"])

    _with_signature(
        dependency,
        [
            _query(
                "limit", Annotated[int, Query(ge=1, le=max_limit, description="Page size.")], default_limit
            ),
            _query("offset", Annotated[int, Query(ge=0, le=_MAX_OFFSET, description="Rows to skip.")], 0),
        ],
        OffsetParams,
    )
    return dependency


def page_pagination(*, default_size: int | None = None, max_size: int = 100) -> Callable[..., PageParams]:
    """A dependency reading ``page`` (≥ 1) and ``size`` (1..``max_size``)."""
    default_size = _check_sizes(default_size, max_size)

    def dependency(**values: int) -> PageParams:
        return PageParams(page=values["page"], size=values["size"])

    _with_signature(
        dependency,
        [
            _query("page", Annotated[int, Query(ge=1, le=1_000_000, description="1-based page.")], 1),
            _query("size", Annotated[int, Query(ge=1, le=max_size, description="Page size.")], default_size),
        ],
        PageParams,
    )
    return dependency


def cursor_pagination(
    *,
    default_limit: int | None = None,
    max_limit: int = 100,
    codec: CursorCodec | None = None,
    raw: bool = False,
) -> Callable[..., CursorParams]:
    """A dependency reading ``cursor`` (opaque, optional) and ``limit`` (1..``max_limit``).

    The cursor is decoded before the route runs: a tampered one gives a 400 ``invalid_cursor``.

    Args:
        default_limit: Page size when ``limit`` is absent (default ``min(50, max_limit)``).
        max_limit: Largest accepted ``limit``.
        codec: Signs and verifies cursors (default: an unkeyed :class:`CursorCodec`).
        raw: Pass the cursor through undecoded (``position`` stays None) for cursors made by
            another layer, e.g. ``internal_rdbms`` keyset pagination, which verifies them itself.
            Only the length is checked here.
    """
    default_limit = _check_sizes(default_limit, max_limit)
    chosen = codec if codec is not None else CursorCodec()

    def dependency(**values: Any) -> CursorParams:
        cursor: str | None = values["cursor"] or None
        position = None
        if cursor is not None:
            if raw:
                if len(cursor) > chosen.max_length:
                    raise InvalidCursorError(f"invalid cursor: longer than {chosen.max_length} characters")
            else:
                position = chosen.decode(cursor)
        return CursorParams(limit=values["limit"], cursor=cursor, position=position, codec=chosen)

    _with_signature(
        dependency,
        [
            _query(
                "cursor",
                Annotated[str | None, Query(description="Opaque cursor from the previous page.")],
                None,
            ),
            _query(
                "limit", Annotated[int, Query(ge=1, le=max_limit, description="Page size.")], default_limit
            ),
        ],
        CursorParams,
    )
    return dependency
