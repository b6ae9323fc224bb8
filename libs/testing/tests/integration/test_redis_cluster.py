from __future__ import annotations

import pytest

from internal_testing import RedisCluster
from internal_testing._resp import RespError, info_field, query

ALL_SLOTS = 16384


def test_every_node_reports_cluster_state_ok(redis_cluster: RedisCluster) -> None:
    """Every node of the fixture's cluster says cluster_state:ok with all 16384 slots assigned."""
    for host, port in redis_cluster.nodes:
        info = query(port, "CLUSTER", "INFO", host=host)
        assert (info_field(info, "cluster_state"), info_field(info, "cluster_slots_ok")) == (
            "ok",
            str(ALL_SLOTS),
        )


def test_three_primaries_share_every_slot(redis_cluster: RedisCluster) -> None:
    """Three primaries own disjoint slot ranges that together cover 0..16383."""
    topology = redis_cluster.topology()
    owned = sorted(r for role, ranges in topology.values() if role == "master" for r in ranges)
    assert len(redis_cluster.primaries()) == 3
    assert sum(last - first + 1 for first, last in owned) == ALL_SLOTS
    assert (owned[0][0], owned[-1][1]) == (0, ALL_SLOTS - 1)


def test_a_key_lands_on_the_primary_that_owns_its_slot(
    redis_cluster: RedisCluster, redis_key_prefix: str
) -> None:
    """A key set on its slot's primary is stored there; another primary answers MOVED to that primary."""
    key = f"{redis_key_prefix}cluster-key"
    host, port = redis_cluster.primary_for(key)
    assert query(port, "SET", key, "v", "EX", "300", host=host) == "OK"
    other_host, other_port = next(a for a in redis_cluster.primaries() if a != (host, port))
    with pytest.raises(RespError) as moved:
        query(other_port, "GET", key, host=other_host)
    assert str(moved.value) == f"MOVED {redis_cluster.keyslot(key)} {host}:{port}"
    assert query(port, "GET", key, host=host) == "v"


def test_hash_tags_put_keys_in_one_slot(redis_cluster: RedisCluster, redis_key_prefix: str) -> None:
    """Keys sharing a {hash tag} map to the same slot; without the tag they spread."""
    tagged = {redis_cluster.keyslot(f"{{{redis_key_prefix}user:1}}:{part}") for part in ("a", "b", "c")}
    plain = {redis_cluster.keyslot(f"{redis_key_prefix}user:1:{part}") for part in ("a", "b", "c")}
    assert len(tagged) == 1
    assert len(plain) > 1


@pytest.mark.slow()
def test_a_killed_primary_is_replaced_by_its_replica(
    redis_cluster: RedisCluster, redis_key_prefix: str
) -> None:
    """Killing a primary promotes its replica for the same slots; the restarted node rejoins as a replica."""
    if not redis_cluster.managed:
        pytest.skip("the cluster comes from COMMONS_REDIS_CLUSTER_URL; its nodes cannot be killed here")
    key = f"{redis_key_prefix}failover-key"
    old = redis_cluster.primary_for(key)
    assert query(old[1], "SET", key, "kept", "EX", "300") == "OK"
    # Replicated to every replica before the crash: after an earlier restart a primary may have two,
    # and the one promoted need not be the first to acknowledge.
    replicas = int(info_field(query(old[1], "INFO", "replication"), "connected_slaves") or 0)
    assert replicas >= 1
    assert query(old[1], "WAIT", str(replicas), "10000") == replicas
    redis_cluster.kill(old[1])
    try:
        new = redis_cluster.wait_failover(redis_cluster.keyslot(key), old_primary=old, timeout=90)
        assert new != old
        assert query(new[1], "GET", key) == "kept"
    finally:
        redis_cluster.restart(old[1])
        redis_cluster.wait_healthy(timeout=90)
    assert redis_cluster.topology()[old][0] == "slave"
