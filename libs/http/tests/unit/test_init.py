"""The curated public API."""

from __future__ import annotations

import internal_http


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted and lists exactly the public names of the package."""
    public = {name for name in vars(internal_http) if not name.startswith("_") and name != "annotations"}
    assert internal_http.__all__ == sorted(internal_http.__all__)
    assert set(internal_http.__all__) == public
