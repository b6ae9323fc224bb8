"""Cluster and Sentinel URLs: the scheme chooses the deployment; bad URLs are refused clearly."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from internal_cache import CacheClient, CacheSettings
from internal_cache._topology import Topology, mode_of, parse_topology

SECRET = "s3cret-cluster-pw"


@pytest.mark.parametrize(
    ("url", "mode"),
    [
        ("redis://h:6379/0", "standalone"),
        ("rediss://h:6379/0", "standalone"),
        ("unix:///tmp/redis.sock", "standalone"),
        ("redis+cluster://h1:7000,h2:7001", "cluster"),
        ("rediss+cluster://h1:7000", "cluster"),
        ("redis+sentinel://s1:26379/mymaster", "sentinel"),
    ],
)
def test_mode_follows_the_scheme(url: str, mode: str) -> None:
    """CacheSettings.mode is read from the URL scheme."""
    assert CacheSettings(url=SecretStr(url)).mode == mode
    assert mode_of(url) == mode


def test_cluster_url_parsed() -> None:
    """Every host:port is a startup node; credentials are percent-decoded; TLS from rediss+."""
    topology = parse_topology(f"rediss+cluster://app:{SECRET}%2Fx@10.0.0.1:7000,10.0.0.2,[::1]:7002/0")
    assert topology.mode == "cluster"
    assert topology.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 6379), ("::1", 7002))
    assert (topology.username, topology.password, topology.ssl) == ("app", f"{SECRET}/x", True)
    assert SECRET not in repr(topology)


def test_sentinel_url_parsed() -> None:
    """Sentinels default to port 26379; the path names the master and optionally the database."""
    topology = parse_topology(f"redis+sentinel://:{SECRET}@s1,s2:26380/my%20master/3")
    assert topology == Topology(
        "sentinel", (("s1", 26379), ("s2", 26380)), None, SECRET, service="my master", db=3
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+cluster://h1:7000/1", "database 0"),
        ("redis+cluster://h1:7000,,h2:7001", "empty address"),
        ("redis+cluster://h1:99999", "invalid port"),
        ("redis+cluster://h1:port", "invalid port"),
        ("redis+cluster://:7000", "without a host"),
        ("redis+cluster://", "no host:port"),
        ("redis+cluster://h1:7000?ssl=true", "no query options"),
        ("redis+sentinel://s1:26379", "master name"),
        ("redis+sentinel://s1:26379/", "master name"),
        ("redis+sentinel://s1:26379/m/x", "not a number"),
        ("redis+sentinel://s1:26379/m/0/extra", "master name"),
    ],
)
def test_bad_topology_urls_refused(url: str, message: str) -> None:
    """A malformed cluster/sentinel URL is a validation error naming what is wrong."""
    with pytest.raises(ValidationError, match=message):
        CacheSettings(url=SecretStr(url))


def test_bad_topology_url_never_echoes_the_password() -> None:
    """The error about a bad URL does not contain its password."""
    with pytest.raises(ValidationError) as info:
        CacheSettings(url=SecretStr(f"redis+cluster://:{SECRET}@h1:7000/5"))
    assert SECRET not in str(info.value)
    with pytest.raises(ValidationError) as info:
        CacheSettings(url=SecretStr(f"redis+cluster+x://:{SECRET}@h1:7000"))
    assert SECRET not in str(info.value)
    assert "redis+cluster" in str(info.value)


def test_parse_topology_refuses_a_standalone_url() -> None:
    """parse_topology is only for cluster and sentinel URLs."""
    with pytest.raises(ValueError, match="not a redis"):
        parse_topology("redis://h:6379/0")


async def test_clients_built_without_connecting() -> None:
    """A cluster or sentinel client is built lazily: mode, masked url, nothing sent yet."""
    cluster = CacheClient(
        CacheSettings(url=SecretStr(f"redis+cluster://:{SECRET}@127.0.0.1:1,127.0.0.1:2"), health_check=False)
    )
    sentinel = CacheClient(
        CacheSettings(url=SecretStr(f"redis+sentinel://:{SECRET}@127.0.0.1:3/m/2"), health_check=False)
    )
    try:
        assert (cluster.mode, cluster.cluster) == ("cluster", True)
        assert (sentinel.mode, sentinel.cluster) == ("sentinel", False)
        for client in (cluster, sentinel):
            assert SECRET not in repr(client)
            assert "***" in client.url
    finally:
        await cluster.aclose()
        await sentinel.aclose()
