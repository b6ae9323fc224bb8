"""Which explicit URLs the discovery probes (no connection is made for the ones it does not)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from internal_testing import _discovery
from internal_testing._discovery import ServiceSpec, probe_url

SPEC = ServiceSpec("Example", "COMMONS_EXAMPLE_URL")


@pytest.fixture(autouse=True)
def _probe_cache() -> Iterator[None]:
    _discovery._answers.cache_clear()
    yield
    _discovery._answers.cache_clear()


@pytest.mark.parametrize(
    "url",
    [
        "unix:///run/redis/redis.sock",  # no host
        "postgresql:///postgres?host=/run/postgresql",  # no host: a socket directory
        "example://somewhere",  # no port, no default for the spec or the scheme
        "redis://127.0.0.1:notaport/0",  # malformed: the driver's own error is clearer
    ],
)
def test_urls_without_a_tcp_address_are_not_probed(url: str) -> None:
    probe_url(SPEC, url)
    assert _discovery._answers.cache_info().currsize == 0
