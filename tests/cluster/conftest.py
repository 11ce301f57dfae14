"""The Redis Cluster every test in this folder shares (started once per session)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster.rediscluster import RedisClusterServers


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    """3 masters + 3 replicas on free local ports; a test that kills a node restarts it
    (``RedisClusterServers.restart``) so that the next one finds the cluster whole."""
    servers = RedisClusterServers(tmp_path_factory.mktemp("redis-cluster"))
    try:
        servers.start()
        yield servers
    finally:
        servers.stop()


@pytest.fixture
def cluster_whole(redis_cluster: RedisClusterServers) -> Iterator[RedisClusterServers]:
    """The shared cluster, healthy before the test; killed nodes started again after it."""
    redis_cluster.wait_healthy()
    try:
        yield redis_cluster
    finally:
        for node in redis_cluster.nodes:
            if not node.alive:
                node.start()
        redis_cluster.wait_healthy()
