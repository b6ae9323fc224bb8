"""Secret-free stand-ins for settings values, used by the settings ``repr``/``str``.

Pydantic builds a model's repr from ``__repr_args__``; ``LibrarySettings`` passes every value
through :func:`masked` first. The rule, applied at any depth (lists, tuples, sets, dicts,
nested models and dataclasses):

* a value stored under a secret name (``password``, ``api_key`` ...) is ``***``;
* ``SecretStr``/``SecretBytes`` keep pydantic's own ``**********`` repr;
* URL objects (``AnyUrl``, ``PostgresDsn`` and every other pydantic URL, multi-host ones
  included) show every password as ``***`` and secret query values masked;
* strings go through the redaction policy (``redact_url`` for URLs, ``redact_text`` otherwise);
* any other object is shown by its redacted ``repr``; past the depth limit (20 levels) or the
  item budget (10,000 items in one repr, so a heavily shared structure cannot make it run for
  ever) the value is masked whole (fail closed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Final

from pydantic import BaseModel, SecretBytes, SecretStr

from internal_base._redaction import MASK, is_secret_key, redact_text, redact_url

_MAX_DEPTH: Final = 20
MAX_ITEMS: Final = 10_000
_SCALARS: Final = (bool, int, float, type(None))


@dataclasses.dataclass(frozen=True, slots=True)
class _Shown:
    """A value whose repr is the already-masked ``text``."""

    text: str

    def __repr__(self) -> str:
        return self.text


def masked(
    value: object, name: str | None = None, *, depth: int = 0, budget: list[int] | None = None
) -> object:
    """Return ``value``, or a stand-in with the same repr minus every secret.

    Args:
        value: A settings value.
        name: The field or key it is stored under (secret names mask the whole value).
        depth: Nesting level (internal).
        budget: Items left to show, shared by one repr (internal).

    Returns:
        An object whose ``repr`` shows no secret.
    """
    if isinstance(value, SecretStr | SecretBytes | _Shown):
        return value
    if name is not None and is_secret_key(name):
        return MASK
    if isinstance(value, _SCALARS):
        return value
    if budget is None:
        budget = [MAX_ITEMS]
    size = len(value) if isinstance(value, Mapping | list | tuple | set | frozenset) else 1
    budget[0] -= size
    if depth >= _MAX_DEPTH or budget[0] < 0:
        return _Shown(MASK)
    if isinstance(value, str):
        # A URL's userinfo and query go through redact_url; tokens in its path or fragment
        # (JWTs, ``#access_token=``) through the free-text patterns.
        return redact_text(redact_url(value)) if "://" in value else redact_text(value)
    inner = depth + 1
    if isinstance(value, BaseModel):
        args = getattr(value, "__repr_args__", None)
        return _Shown(_call(type(value).__name__, args() if args is not None else (), inner, budget))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr]
        return _Shown(_call(type(value).__name__, fields, inner, budget))
    if isinstance(value, Mapping):
        return {
            masked(key, depth=inner, budget=budget): masked(
                item, key if isinstance(key, str) else None, depth=inner, budget=budget
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [masked(item, depth=inner, budget=budget) for item in value]
    if isinstance(value, tuple):
        return tuple(masked(item, depth=inner, budget=budget) for item in value)
    if isinstance(value, set | frozenset):
        items = sorted(repr(masked(item, depth=inner, budget=budget)) for item in value)
        body = ", ".join(items)
        if isinstance(value, frozenset):
            return _Shown(f"frozenset({{{body}}})" if items else "frozenset()")
        return _Shown(f"{{{body}}}" if items else "set()")
    try:
        if hasattr(value, "scheme") and "://" in (text := str(value)):
            multi_host = callable(getattr(value, "hosts", None))
            return _Shown(f"{type(value).__name__}({mask_url(text, multi_host=multi_host)!r})")
        return _Shown(redact_text(repr(value)))
    except Exception:  # a value that cannot be printed must not break the settings repr
        return _Shown(f"<unprintable {type(value).__name__}>")


def _call(name: str, pairs: Iterable[tuple[str | None, object]], depth: int, budget: list[int]) -> str:
    """``Name(key=value, ...)`` with each value masked under its key."""
    args = (
        f"{key}={masked(item, key, depth=depth, budget=budget)!r}"
        if key is not None
        else repr(masked(item, depth=depth, budget=budget))
        for key, item in pairs
    )
    return f"{name}({', '.join(args)})"


def mask_url(url: str, *, multi_host: bool = False) -> str:
    """Mask every password of a URL; with ``multi_host`` each of ``pg://a:x@h1,b:y@h2/db`` too.

    Meant for normalised URLs (pydantic's ``str(url)``), whose userinfo is percent-encoded except
    for a few characters such as ``,`` (so only multi-host URLs are split on commas); the rest
    goes through ``redact_url`` (secret query parameters) and ``redact_text`` (tokens).
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return redact_url(url)
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    hosts = []
    for host in rest[:end].split(",") if multi_host else [rest[:end]]:
        userinfo, at, hostport = host.rpartition("@")
        if at and ":" in userinfo:
            host = f"{userinfo.split(':', 1)[0]}:{MASK}@{hostport}"
        hosts.append(host)
    # Secret query parameters, and tokens in the path or fragment (JWTs, ``#access_token=``).
    tail = redact_text(redact_url(f"x://h{rest[end:]}").removeprefix("x://h"))
    return f"{scheme}://{','.join(hosts)}{tail}"
