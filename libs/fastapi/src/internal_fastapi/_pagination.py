"""Pagination query parameters (offset, page number, cursor) and opaque cursors.

Each ``*_pagination`` factory returns a FastAPI dependency whose query parameters are
validated by FastAPI (bad values give a 422 naming ``query.limit`` ...). Cursors are
:mod:`internal_base.cursor` tokens: signed JSON bound to the listing that issued them (route,
path parameters and the other query parameters, e.g. the sort), so a cursor that was edited,
truncated or made for another listing is rejected with a 400, never a 500.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

from fastapi import Query, Request
from pydantic import SecretBytes, SecretStr

from internal_base import cursor as base_cursor
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
    "route_template",
]

_DEFAULT_SIZE: Final = 50
_MAX_OFFSET: Final = 2**63 - 1  # the largest OFFSET databases accept
_CODEC_STATE_KEY: Final = "commons_cursor_codec"
_RAW_CODEC_STATE_KEY: Final = "commons_raw_cursor_codec"
_PAGING_PARAMS: Final = frozenset({"cursor", "limit"})
_MAX_RAW_LENGTH: Final = 8192


class InvalidCursorError(BadRequestError, base_cursor.InvalidCursorError):
    """400: the cursor is not one this API issued for this listing (tampered, truncated, foreign)."""

    code = "invalid_cursor"


class CursorCodec(base_cursor.CursorCodec):
    """The :class:`internal_base.cursor.CursorCodec` whose errors are 400 problem responses.

    Without a ``secret`` it signs with a random per-process key (one WARNING on first use):
    cursors then do not survive a restart and are refused by other worker processes. Give
    ``FastAPISettings.cursor_secret`` (``COMMONS_FASTAPI_CURSOR_SECRET``) or a secret here.

    Args:
        secret: HMAC key of at least 16 bytes (str, bytes or ``SecretStr``), or None.
        max_length: Longest cursor accepted by :meth:`decode`.
    """

    __slots__ = ()

    def encode(self, payload: Mapping[str, Any], *, purpose: str = "") -> str:
        """Turn ``payload`` (JSON-serialisable values) into a cursor bound to ``purpose``.

        Raises:
            TypeError: A value is not JSON-serialisable.
            ValueError: The cursor would be longer than ``max_length``.
        """
        return super().encode(payload, purpose=purpose)

    def decode(self, token: str, *, purpose: str = "") -> dict[str, Any]:
        """Verify ``token`` for ``purpose`` and return its payload.

        Raises:
            InvalidCursorError: Too long, malformed, edited, or issued for another purpose or key.
        """
        try:
            return super().decode(token, purpose=purpose)
        except base_cursor.InvalidCursorError as exc:
            raise InvalidCursorError(str(exc)) from None


class _ListingCodec(base_cursor.CursorCodec):
    """Binds every cursor of another layer to one listing as well as to that layer's own purpose.

    Handed to e.g. ``internal_rdbms.paginate_keyset(codec=...)``, whose purpose names the model and
    the sort order: the cursor then also names the route, its path parameters and query.
    """

    __slots__ = ("_inner", "_listing")

    def __init__(self, inner: base_cursor.CursorCodec, listing: str) -> None:
        # No super().__init__(): every call goes to ``inner``, which holds the key.
        self._inner = inner
        self._listing = listing
        self.max_length = inner.max_length

    def __repr__(self) -> str:
        return f"ListingCodec({self._inner!r})"

    @property
    def ephemeral(self) -> bool:
        """True when the inner codec has no configured secret."""
        return self._inner.ephemeral

    def _bound(self, purpose: str) -> str:
        if not isinstance(purpose, str):
            raise TypeError(f"cursor purpose must be a string, got {type(purpose).__name__}")
        return json.dumps([self._listing, purpose], separators=(",", ":"), ensure_ascii=False)

    def encode(self, payload: Mapping[str, Any], *, purpose: str) -> str:
        """Sign ``payload`` for this listing and ``purpose``."""
        return self._inner.encode(payload, purpose=self._bound(purpose))

    def decode(self, token: str, *, purpose: str) -> dict[str, Any]:
        """Verify ``token`` for this listing and ``purpose``."""
        return self._inner.decode(token, purpose=self._bound(purpose))


_process_codecs: dict[int, CursorCodec] = {}


def _default_codec(max_length: int = base_cursor.DEFAULT_MAX_LENGTH) -> CursorCodec:
    # Per-process random key (the same key for every length: it is internal_base's process key).
    codec = _process_codecs.get(max_length)
    if codec is None:
        codec = _process_codecs[max_length] = CursorCodec(max_length=max_length)
    return codec


def _app_codec(request: Request, key: str = _CODEC_STATE_KEY) -> CursorCodec:
    # The codec install() built from FastAPISettings.cursor_secret, else the per-process one.
    codec = getattr(request.app.state, key, None)
    if isinstance(codec, CursorCodec):
        return codec
    return _default_codec(_MAX_RAW_LENGTH if key == _RAW_CODEC_STATE_KEY else base_cursor.DEFAULT_MAX_LENGTH)


def install_cursor_codec(app_state: Any, secret: str | bytes | SecretStr | SecretBytes | None) -> None:
    """Store the app's cursor codecs (called by ``install``; None: the per-process random key)."""
    if secret is None:
        setattr(app_state, _CODEC_STATE_KEY, _default_codec())
        setattr(app_state, _RAW_CODEC_STATE_KEY, _default_codec(_MAX_RAW_LENGTH))
    else:
        setattr(app_state, _CODEC_STATE_KEY, CursorCodec(secret))
        # For other layers' cursors (internal_rdbms issues up to 4096 characters).
        setattr(app_state, _RAW_CODEC_STATE_KEY, CursorCodec(secret, max_length=_MAX_RAW_LENGTH))


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
    """``?cursor=&limit=`` query parameters; ``position`` is the decoded cursor (None on page 1).

    ``purpose`` identifies the listing (route, path and bound query parameters); cursors made
    by :meth:`next_cursor` are accepted only by a request for the same listing.
    """

    limit: int
    cursor: str | None = None
    position: dict[str, Any] | None = None
    codec: base_cursor.CursorCodec = field(default_factory=_default_codec, repr=False, compare=False)
    purpose: str = ""

    def next_cursor(self, position: Mapping[str, Any] | None) -> str | None:
        """Encode the position after the last item of this page (None: no next page)."""
        return None if position is None else self.codec.encode(position, purpose=self.purpose)


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


def route_template(scope: Mapping[str, Any]) -> str | None:
    """The matched route's path template, with the prefixes of the routers that include it.

    FastAPI 0.165 keeps included routers nested: ``scope["route"].path_format`` is the template
    relative to its router (``/items/{id}`` for both ``/a/items/{id}`` and ``/b/items/{id}``), so the
    full one is read from the effective route context FastAPI stores in the scope, when there is one.
    """
    fastapi_scope = scope.get("fastapi")
    context = fastapi_scope.get("effective_route_context") if isinstance(fastapi_scope, dict) else None
    template = getattr(context, "path_format", None)
    if isinstance(template, str) and template:
        return template
    template = getattr(scope.get("route"), "path_format", None)
    return template if isinstance(template, str) else None


def _listing(request: Request, purpose: str | None, bind_query: Collection[str] | None) -> str:
    """What a cursor is bound to: the route (or ``purpose``) and the listing's query parameters."""
    if purpose is None:
        template = route_template(request.scope)
        where: list[Any] = (
            [request.scope.get("root_path", "") + template, sorted(request.path_params.items())]
            if isinstance(template, str)
            else [request.url.path]
        )
    else:
        where = [purpose]
    query = sorted(
        (name, value)
        for name, value in request.query_params.multi_items()
        if name not in _PAGING_PARAMS and (bind_query is None or name in bind_query)
    )
    return json.dumps([*where, query], separators=(",", ":"), ensure_ascii=False)


def cursor_pagination(
    *,
    default_limit: int | None = None,
    max_limit: int = 100,
    codec: base_cursor.CursorCodec | None = None,
    purpose: str | None = None,
    bind_query: Collection[str] | None = None,
    raw: bool = False,
    max_raw_length: int = _MAX_RAW_LENGTH,
) -> Callable[..., CursorParams]:
    """A dependency reading ``cursor`` (opaque, optional) and ``limit`` (1..``max_limit``).

    The cursor is decoded before the route runs, and only for the listing that issued it: the
    route template with its path parameter values (or ``purpose``) and the query parameters
    other than ``cursor`` and ``limit`` (the sort, filters) are bound into its signature. A
    tampered cursor, or one from another route or sort, gives a 400 ``invalid_cursor``.

    Args:
        default_limit: Page size when ``limit`` is absent (default ``min(50, max_limit)``).
        max_limit: Largest accepted ``limit``.
        codec: Signs and verifies cursors (default: the app's codec, keyed by
            ``FastAPISettings.cursor_secret`` via :func:`internal_fastapi.install`; without
            a secret, a random per-process key and one WARNING).
        purpose: Name of the listing, replacing the route and its path parameters, e.g. to
            accept one cursor on ``/v1/items`` and ``/v2/items``.
        bind_query: Names of the query parameters bound into the cursor (default: all but
            ``cursor`` and ``limit``; ``()`` binds none).
        raw: Pass the cursor through undecoded (``position`` stays None) for cursors made by
            another layer, e.g. ``internal_rdbms`` keyset pagination, which verifies them itself
            (and binds its model and sort order). ``params.codec`` is then a codec bound to this
            listing: give it to that layer (``paginate_keyset(..., codec=params.codec)``) and its
            cursors are bound to the route and query as well (signed with ``codec`` or the app's
            ``cursor_secret``, up to ``max_raw_length`` characters).
        max_raw_length: With ``raw``, longer cursors are refused here (400) without reaching the
            verifying layer; the default is above what ``internal_rdbms`` issues (4096).

    Raises:
        ConfigurationError: Bad sizes, ``bind_query`` given as a string, ``max_raw_length`` < 1.
    """
    default_limit = _check_sizes(default_limit, max_limit)
    if isinstance(bind_query, str):
        raise ConfigurationError("bind_query must be a collection of parameter names, not a string")
    bound = frozenset(bind_query) if bind_query is not None else None
    if max_raw_length < 1:
        raise ConfigurationError(f"max_raw_length must be at least 1, got {max_raw_length}")

    def dependency(**values: Any) -> CursorParams:
        request: Request = values["request"]
        listing = _listing(request, purpose, bound)
        chosen: base_cursor.CursorCodec
        if raw:
            inner = codec if codec is not None else _app_codec(request, _RAW_CODEC_STATE_KEY)
            chosen = _ListingCodec(inner, listing)
        else:
            chosen = codec if codec is not None else _app_codec(request)
        cursor: str | None = values["cursor"] or None
        position = None
        if cursor is not None:
            if raw:
                # The layer that issued it checks it; this only stops absurd input early.
                if len(cursor) > max_raw_length:
                    raise InvalidCursorError(f"invalid cursor: longer than {max_raw_length} characters")
            else:
                position = chosen.decode(cursor, purpose=listing)
        return CursorParams(
            limit=values["limit"], cursor=cursor, position=position, codec=chosen, purpose=listing
        )

    _with_signature(
        dependency,
        [
            inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
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
