"""Adversarial review: cluster/sentinel URL edge cases and same_slot prefixes (no network)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from internal_cache import CacheClient, CacheSettings
from internal_cache._cluster import slot_of
from internal_cache._topology import parse_topology

SECRET = "p@ss:w0rd/#?%"
ENCODED = "p%40ss%3Aw0rd%2F%23%3F%25"


def test_bracketed_ipv6_hosts_are_parsed() -> None:
    """[::1]:7000 and a bracketed host without a port both parse; the brackets are dropped."""
    topology = parse_topology("redis+cluster://[::1]:7000,[fe80::2]")
    assert topology.nodes == (("::1", 7000), ("fe80::2", 6379))


@pytest.mark.parametrize(
    "url",
    [
        "redis+cluster://::1:7000",  # unbracketed IPv6: was read as host '::1', port 7000 by luck
        "redis+cluster://::1",  # ... and as host ':', port 1
        f"redis+cluster://:{ENCODED}@h:1:2",  # a stray colon was read as host 'h:1', port 2
        f"redis+sentinel://:{ENCODED}@fe80::1:26379/mymaster",
    ],
)
def test_unbracketed_colons_in_a_host_are_refused(url: str) -> None:
    """A host with ':' must be an [IPv6] literal: anything else is ambiguous and refused, naming why."""
    with pytest.raises(ValidationError) as caught:
        CacheSettings(url=SecretStr(url))
    text = str(caught.value)
    assert "IPv6" in text
    assert "[::1]" in text
    assert SECRET not in text
    assert ENCODED not in text


@pytest.mark.parametrize(
    ("url", "twice"),
    [
        ("redis+cluster://h:7000,h:7000", "h:7000"),
        ("redis+cluster://H:7000,h:7000", "h:7000"),
        ("redis+sentinel://s1,s1:26379/mymaster", "s1:26379"),
        ("redis+cluster://[::1]:7000,[::1]:7000", "[::1]:7000"),
    ],
)
def test_duplicate_addresses_are_refused(url: str, twice: str) -> None:
    """Naming one node twice is a configuration mistake (a sentinel counted twice): refused, named."""
    with pytest.raises(ValidationError) as caught:
        CacheSettings(url=SecretStr(url))
    assert "twice" in str(caught.value)
    assert twice in str(caught.value).lower()


@pytest.mark.parametrize(
    "url",
    [
        "redis+cluster://h:\u0661\u0662",  # Arabic-Indic digits: str.isdigit() is True, no real port
        "redis+sentinel://h:26379/mymaster/\u0661",
        "redis+sentinel://h:26379/mymaster/\u00b2",
    ],
)
def test_non_ascii_digits_are_not_numbers(url: str) -> None:
    """Ports and database numbers are ASCII digits; others are refused instead of converted."""
    with pytest.raises(ValidationError):
        CacheSettings(url=SecretStr(url))


def test_password_with_special_characters_never_in_reprs() -> None:
    """A percent-encoded password with every special character decodes, and shows up in no repr."""
    settings = CacheSettings(url=SecretStr(f"redis+cluster://u:{ENCODED}@h:7000"), health_check=False)
    topology = parse_topology(settings.url.get_secret_value())
    assert topology.password == SECRET
    for text in (repr(settings), str(settings), settings.redacted_url, repr(topology), str(topology)):
        assert SECRET not in text
        assert ENCODED not in text


@pytest.mark.parametrize("parent", ["{}:", "a{}b:", "x:{}"])
async def test_same_slot_under_an_empty_tag_parent_is_refused(parent: str) -> None:
    """Under a prefix whose first '{' closes at once ('{}'), Redis hashes the whole key: no shared slot.

    with_prefix(same_slot=True) promised one slot; it now refuses instead of silently spreading keys.
    """
    client = CacheClient.from_url("redis+cluster://127.0.0.1:7000", key_prefix=parent, health_check=False)
    try:
        with pytest.raises(ValueError, match="hash tag"):
            client.with_prefix("user:42", same_slot=True)
    finally:
        await client.aclose()


@pytest.mark.parametrize("parent", ["", "app:", "{tenant}:", "{open:", "a}b:"])
async def test_same_slot_views_put_every_key_in_one_slot(parent: str) -> None:
    """Whatever the parent prefix, the keys of a same_slot view hash to one slot."""
    client = CacheClient.from_url("redis+cluster://127.0.0.1:7000", key_prefix=parent, health_check=False)
    try:
        view = client.with_prefix("user:42", same_slot=True)
        slots = {slot_of(view.key(k)) for k in ("a", "b", "}c{", "{d}", "profile:{x}")}
        assert len(slots) == 1, (view.prefix, slots)
    finally:
        await client.aclose()
