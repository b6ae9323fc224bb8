from __future__ import annotations

import pytest

from internal_testing import RedisSentinel
from internal_testing._process import wait_until
from internal_testing._resp import info_field, query, query_or_none


def test_sentinels_name_a_master_that_says_it_is_one(redis_sentinel: RedisSentinel) -> None:
    """Every sentinel answers, and the master they name reports role:master."""
    assert len(redis_sentinel.sentinels) == 3
    assert redis_sentinel.master_name == "mymaster"
    address = redis_sentinel.master_address()
    assert address is not None
    assert info_field(query(address[1], "INFO", "replication", host=address[0]), "role") == "master"
    assert redis_sentinel.url.startswith("redis+sentinel://127.0.0.1:")


@pytest.mark.slow()
def test_killing_the_master_promotes_the_replica(
    redis_sentinel: RedisSentinel, redis_key_prefix: str
) -> None:
    """After the master is killed the sentinels name the former replica as master, holding the data."""
    if not redis_sentinel.managed:
        pytest.skip("Sentinel comes from COMMONS_REDIS_SENTINEL_URL; its master cannot be killed here")
    old = redis_sentinel.master_address()
    assert old is not None
    key = f"{redis_key_prefix}sentinel-key"
    assert query(old[1], "SET", key, "kept", "EX", "300") == "OK"
    assert query(old[1], "WAIT", "1", "10000") == 1
    assert redis_sentinel.kill_master() == old
    try:
        new = redis_sentinel.wait_failover(old, timeout=90)
        assert new != old
        assert query(new[1], "GET", key) == "kept"
    finally:
        redis_sentinel.restart_killed()

    def demoted() -> bool:
        return info_field(query_or_none(old[1], "INFO", "replication"), "role") == "slave"

    wait_until(demoted, what="the old master to become a replica", timeout=90, interval=0.2)
