"""Origin binding: a credential set for one origin never travels to another.

httpx follows redirects *below* the auth flow and, when the origin changes, strips only
``Authorization``; an ``X-API-Key`` header, a custom auth header, or an API key in a query string
that the redirector carried over would reach the other origin. :class:`RetryTransport` sees every
hop (the first request and each redirect), so it calls :func:`bind_to_origin` on each: the first
hop's origin is written into ``request.extensions`` (which httpx copies into every redirect
request), and a hop to another origin loses its credentials before it is sent.
"""

from __future__ import annotations

import httpx

from internal_base.redaction import is_secret_key

from ._logging import SECRET_NAMES_EXTENSION

__all__ = ["ORIGIN_EXTENSION", "Origin", "bind_to_origin", "origin_of", "trusted_hop"]

#: ``request.extensions`` key holding the origin whose credentials the request carries.
ORIGIN_EXTENSION = "internal_http.origin"

#: ``(scheme, host, port)`` with the scheme's default port filled in.
Origin = tuple[str, str, int | None]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: httpx.URL) -> Origin:
    """Return ``url``'s scheme, host and port (the default port when the URL has none)."""
    scheme = url.scheme
    port = url.port
    return scheme, url.host, port if port is not None else _DEFAULT_PORTS.get(scheme)


def trusted_hop(origin: Origin, url: httpx.URL) -> bool:
    """Tell whether credentials for ``origin`` may go to ``url``.

    True for the same scheme, host and port, and for the one upgrade httpx also allows for
    ``Authorization``: ``http://host`` (port 80) to ``https://host`` (port 443).
    """
    target = origin_of(url)
    if target == origin:
        return True
    return origin == ("http", target[1], 80) and target == ("https", origin[1], 443)


def bind_to_origin(request: httpx.Request) -> None:
    """Record the first hop's origin; strip the credentials of a hop to another origin.

    Stripped: every header whose name is secret (``Authorization``, cookies, ``X-API-Key``,
    ``*token*``...) and every header or query parameter an auth strategy marked as secret on
    this request (:func:`internal_http.mark_secret`). Only this request's marks count: another
    client's ``ApiKeyAuth(query_param="id")`` must not strip ``id`` from this one's redirects.
    """
    extensions = request.extensions
    origin: Origin | None = extensions.get(ORIGIN_EXTENSION)
    if origin is None:
        extensions[ORIGIN_EXTENSION] = origin_of(request.url)
        return
    if trusted_hop(origin, request.url):
        return
    marked: tuple[str, ...] = extensions.get(SECRET_NAMES_EXTENSION, ())
    headers = request.headers
    for name in [name for name in headers if name in marked or is_secret_key(name)]:
        del headers[name]
    url = request.url
    if marked and url.query and any(param.lower() in marked for param in url.params):
        kept = [(k, v) for k, v in url.params.multi_items() if k.lower() not in marked]
        request.url = url.copy_with(params=kept)
