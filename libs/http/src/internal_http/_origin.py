"""Origin binding: a credential set for one origin never travels to another.

httpx follows redirects *below* the auth flow and, when the origin changes, strips only
``Authorization``; an ``X-API-Key`` header, a custom auth header, or an API key in a query string
that the redirector carried over would reach the other origin. :class:`RetryTransport` sees every
hop (the first request and each redirect), so it calls :func:`bind_to_origin` on each: the first
hop's URL is written into ``request.extensions`` (which httpx copies into every redirect
request), and a hop to another origin loses its credentials before it is sent.
"""

from __future__ import annotations

import httpx

from internal_base.redaction import is_secret_key

from ._logging import SECRET_NAMES_EXTENSION

__all__ = ["FIRST_HOP_EXTENSION", "Origin", "bind_to_origin", "origin_of", "trusted_hop"]

#: ``request.extensions`` key holding the URL of the first hop, whose origin the credentials are for.
FIRST_HOP_EXTENSION = "internal_http.first_hop"

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
    """Record the first hop's URL; strip the credentials of a hop to another origin.

    Stripped from such a hop: every header whose name is secret (``Authorization``, cookies,
    ``X-API-Key``, ``*token*``...); every header or query parameter an auth strategy marked as
    secret on this request (:func:`internal_http.mark_secret`); and every query parameter the
    first hop carried under a secret name with the same value (``?token=...`` copied into the
    ``Location``). Parameters the redirect brought itself (a presigned URL's signature) stay.
    """
    extensions = request.extensions
    url = request.url
    first: httpx.URL | None = extensions.get(FIRST_HOP_EXTENSION)
    if first is None:
        extensions[FIRST_HOP_EXTENSION] = url
    elif first is not url and not trusted_hop(origin_of(first), url):
        _strip_credentials(request, first)


def _strip_credentials(request: httpx.Request, first: httpx.URL) -> None:
    marked: tuple[str, ...] = request.extensions.get(SECRET_NAMES_EXTENSION, ())
    headers = request.headers
    for name in [name for name in headers if name in marked or is_secret_key(name)]:
        del headers[name]
    url = request.url
    if not url.query:
        return
    carried = {(k.lower(), v) for k, v in first.params.multi_items() if is_secret_key(k)}
    params = url.params.multi_items()
    kept = [(k, v) for k, v in params if k.lower() not in marked and (k.lower(), v) not in carried]
    if len(kept) != len(params):
        request.url = url.copy_with(params=kept)
