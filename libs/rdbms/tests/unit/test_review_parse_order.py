"""parse_order: cached string specs give fresh lists; long specs are parsed without the cache."""

from __future__ import annotations

from internal_rdbms import OrderBy, parse_order


def test_a_cached_spec_returns_a_fresh_list_each_time() -> None:
    """Mutating one result never changes the next parse of the same spec."""
    first = parse_order("-created_at, name")
    first.append(OrderBy("id"))
    assert parse_order("-created_at, name") == [OrderBy("created_at", descending=True), OrderBy("name")]


def test_a_long_spec_is_parsed_in_full() -> None:
    """A spec longer than the cached ones (user input) still parses every item."""
    spec = ",".join(f"+f{i}" for i in range(200))
    parsed = parse_order(spec)
    assert len(parsed) == 200
    assert parsed[-1] == OrderBy("f199")
