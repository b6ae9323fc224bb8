"""Integration: a ``Retry-After`` that is not delay-seconds or an HTTP date falls back to the backoff.

``float()`` read ``-1`` as "retry now" (a zero wait that hammers a struggling server), and accepted
what RFC 9110 does not (``1_0``, Arabic-Indic digits, ``1e3``). Only ``1*DIGIT`` and HTTP dates are
a server's request; anything else is ignored and the configured backoff applies.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from internal_base.resilience import testing
from internal_http import HttpResilienceSettings, HttpSettings, RetryConfig, create_client

BACKOFF = 0.5  # no jitter: every fallback wait is exactly this


@pytest.fixture()
def no_wait() -> Iterator[testing]:
    """Skip (and record) every wait."""
    with testing() as mode:
        yield mode


def _settings(base_url: str) -> HttpSettings:
    retry = RetryConfig.model_validate(
        {"attempts": 2, "backoff": {"initial": BACKOFF, "maximum": BACKOFF, "jitter": False}}
    )
    return HttpSettings(base_url=base_url, resilience=HttpResilienceSettings(retry=retry))


@pytest.mark.parametrize("value", ["-1", "-0.5", "1_0", "\u0661\u0660", "1e1", "+3", "0x10", "3.5.1", "NaN"])
async def test_invalid_retry_after_uses_the_backoff(
    base_url: str, key: str, no_wait: testing, value: str
) -> None:
    """A 503 with ``Retry-After: <value>`` is retried after the backoff wait, not after the value."""
    params = {"key": key, "fail": "1", "retry_after": value}
    async with create_client(_settings(base_url)) as client:
        response = await client.get("/flaky", params=params)
    assert response.status_code == 200
    assert no_wait.sleeps == [BACKOFF]


@pytest.mark.parametrize(("value", "wait"), [("3", 3.0), ("0", 0.0), ("1.5", 1.5)])
async def test_valid_retry_after_is_honoured(
    base_url: str, key: str, no_wait: testing, value: str, wait: float
) -> None:
    """Delay-seconds (and a decimal, as many servers send) are honoured as given."""
    params = {"key": key, "fail": "1", "retry_after": value}
    async with create_client(_settings(base_url)) as client:
        response = await client.get("/flaky", params=params)
    assert response.status_code == 200
    assert no_wait.sleeps == [wait]
