"""Public cursor API: one signed, purpose-bound cursor format for every commons library.

``CursorCodec`` signs a JSON payload with HMAC-SHA256 and binds it to a ``purpose`` string, so
a cursor issued for one listing is refused by another; ``InvalidCursorError`` (a
``CommonsError`` and a ``ValueError``) says a token was not issued by this codec for this purpose.

Example::

    from internal_base.cursor import CursorCodec, InvalidCursorError

    codec = CursorCodec(settings.cursor_secret)      # None: random per-process key, one WARNING
    token = codec.encode({"id": 42}, purpose="orders:id")
    codec.decode(token, purpose="orders:id")         # {'id': 42}
"""

from __future__ import annotations

from internal_base._cursor import DEFAULT_MAX_LENGTH, MIN_SECRET_BYTES, CursorCodec, InvalidCursorError

__all__ = ["CursorCodec", "DEFAULT_MAX_LENGTH", "InvalidCursorError", "MIN_SECRET_BYTES"]
