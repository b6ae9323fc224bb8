"""How the cluster, sentinel and replica fixtures read their variables; what a given deployment refuses."""

from __future__ import annotations

from contextlib import ExitStack

import pytest

from internal_testing import PostgresReplica, RedisCluster, RedisSentinel, _topologies
from internal_testing._discovery import REQUIRE_SERVICES_ENV_VAR
from internal_testing._redis_cluster import parse_node_urls
from internal_testing._redis_sentinel import parse_sentinel_url

ALL_VARS = (
    _topologies.REDIS_CLUSTER_ENV_VAR,
    _topologies.REDIS_SENTINEL_ENV_VAR,
    _topologies.POSTGRES_REPLICA_ENV_VAR,
    _topologies.POSTGRES_PRIMARY_ENV_VAR,
    REQUIRE_SERVICES_ENV_VAR,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)


def test_cluster_node_urls_are_parsed_in_order() -> None:
    """A comma-separated list of redis://host:port URLs becomes (host, port) pairs, in order."""
    assert parse_node_urls("redis://10.0.0.1:7000, redis://node-b:7001") == (
        ("10.0.0.1", 7000),
        ("node-b", 7001),
    )


@pytest.mark.parametrize("value", ["10.0.0.1:7000", "redis://10.0.0.1", "rediss://h:1", "redis://h:port"])
def test_a_malformed_cluster_node_url_is_named(value: str) -> None:
    """A node URL without the redis:// scheme or a port is refused with the entry in the message."""
    with pytest.raises(ValueError, match="redis://host:port") as info:
        parse_node_urls(f"redis://ok:1,{value}")
    assert repr(value) in str(info.value)


def test_a_sentinel_url_gives_addresses_and_master_name() -> None:
    """redis+sentinel://h:p,h:p/name gives the sentinel addresses and the master name."""
    assert parse_sentinel_url("redis+sentinel://a:26379,b:26380/cache") == (
        (("a", 26379), ("b", 26380)),
        "cache",
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("redis://a:26379/cache", "must look like"),
        ("redis+sentinel://a:26379", "must look like"),
        ("redis+sentinel://a:26379,b/cache", "host:port"),
    ],
)
def test_a_malformed_sentinel_url_is_refused(value: str, problem: str) -> None:
    """A Sentinel URL with the wrong scheme, no master name or an address without port is refused."""
    with pytest.raises(ValueError, match=problem):
        parse_sentinel_url(value)


def test_the_cluster_variable_wins_and_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """With COMMONS_REDIS_CLUSTER_URL set, the fixture wraps those nodes and cannot kill them."""
    monkeypatch.setenv(_topologies.REDIS_CLUSTER_ENV_VAR, "redis://127.0.0.1:7000,redis://127.0.0.1:7001")
    with ExitStack() as stack:
        cluster = _topologies.find_redis_cluster(stack)
    assert (cluster.managed, cluster.url, cluster.urls[1]) == (
        False,
        "redis://127.0.0.1:7000",
        "redis://127.0.0.1:7001",
    )
    with pytest.raises(RuntimeError, match="COMMONS_REDIS_CLUSTER_URL"):
        cluster.kill(7000)


def test_the_sentinel_variable_wins_and_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """With COMMONS_REDIS_SENTINEL_URL set, the fixture wraps those sentinels and cannot kill the master."""
    monkeypatch.setenv(_topologies.REDIS_SENTINEL_ENV_VAR, "redis+sentinel://127.0.0.1:26379/cache")
    with ExitStack() as stack:
        sentinel = _topologies.find_redis_sentinel(stack)
    assert (sentinel.managed, sentinel.sentinels, sentinel.master_name) == (
        False,
        (("127.0.0.1", 26379),),
        "cache",
    )
    assert sentinel.url == "redis+sentinel://127.0.0.1:26379/cache"
    with pytest.raises(RuntimeError, match="COMMONS_REDIS_SENTINEL_URL"):
        sentinel.kill_master()


def test_the_replica_variables_win_and_start_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """With both PostgreSQL variables set, the fixture wraps those URLs and cannot stop the replica."""
    monkeypatch.setenv(_topologies.POSTGRES_PRIMARY_ENV_VAR, "postgresql://u@primary:5432/db")
    monkeypatch.setenv(_topologies.POSTGRES_REPLICA_ENV_VAR, "postgresql://u@replica:5432/db")
    with ExitStack() as stack:
        pair = _topologies.find_postgres_replica(stack)
    assert (pair.managed, pair.primary_url, pair.replica_url) == (
        False,
        "postgresql://u@primary:5432/db",
        "postgresql://u@replica:5432/db",
    )
    with pytest.raises(RuntimeError, match="COMMONS_POSTGRES_REPLICA_URL"):
        pair.stop_replica()


def test_a_replica_url_without_its_primary_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Setting only COMMONS_POSTGRES_REPLICA_URL is an error naming both variables."""
    monkeypatch.setenv(_topologies.POSTGRES_REPLICA_ENV_VAR, "postgresql://u@replica:5432/db")
    with ExitStack() as stack, pytest.raises(ValueError, match="COMMONS_POSTGRES_PRIMARY_URL") as info:
        _topologies.find_postgres_replica(stack)
    assert "COMMONS_POSTGRES_REPLICA_URL" in str(info.value)


def test_a_replica_url_of_another_scheme_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A non-postgresql URL is refused naming the variable and scheme, never the URL (it may hold secrets)."""
    monkeypatch.setenv(_topologies.POSTGRES_PRIMARY_ENV_VAR, "postgresql://u@primary:5432/db")
    monkeypatch.setenv(_topologies.POSTGRES_REPLICA_ENV_VAR, "mysql://u:s3cret@replica/db")
    with ExitStack() as stack, pytest.raises(ValueError, match="COMMONS_POSTGRES_REPLICA_URL") as info:
        _topologies.find_postgres_replica(stack)
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize(
    ("find", "variable"),
    [
        (_topologies.find_redis_cluster, _topologies.REDIS_CLUSTER_ENV_VAR),
        (_topologies.find_redis_sentinel, _topologies.REDIS_SENTINEL_ENV_VAR),
        (_topologies.find_postgres_replica, _topologies.POSTGRES_REPLICA_ENV_VAR),
    ],
)
def test_without_binaries_the_test_is_skipped_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, find: object, variable: str
) -> None:
    """No server binaries on PATH and no variable: the requesting test is skipped, naming the variable."""
    monkeypatch.setenv("PATH", "")
    assert callable(find)
    with ExitStack() as stack, pytest.raises(pytest.skip.Exception, match=variable):
        find(stack)


def test_without_binaries_a_required_cluster_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """With COMMONS_REQUIRE_SERVICES=1 a missing cluster fails the test instead of skipping it."""
    monkeypatch.setenv("PATH", "")
    monkeypatch.setenv(REQUIRE_SERVICES_ENV_VAR, "1")
    with ExitStack() as stack, pytest.raises(pytest.fail.Exception, match=_topologies.REDIS_CLUSTER_ENV_VAR):
        _topologies.find_redis_cluster(stack)


def test_a_deployment_needs_an_address() -> None:
    """An empty list of nodes or sentinels is refused up front."""
    with pytest.raises(ValueError, match="at least one node"):
        RedisCluster(())
    with pytest.raises(ValueError, match="at least one sentinel"):
        RedisSentinel(())
    assert PostgresReplica("postgresql://p", "postgresql://r").replica_running is False
