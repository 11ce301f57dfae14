"""The Redis client: optional (no ``REDIS_URL`` means one node), never a source of truth.

Commands retry with exponential backoff on connection errors; callers still treat Redis
as allowed to fail, because principle 4 says nothing may be lost when it does.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

#: Retries of one command on a dropped connection before the error reaches the caller.
COMMAND_RETRIES = 3
SOCKET_TIMEOUT_S = 5.0
HEALTH_CHECK_INTERVAL_S = 15

#: What the node's commands go through: one Redis, or a Redis Cluster (``REDIS_CLUSTER``).
Client = redis.Redis | RedisCluster


def connect(
    url: str,
    *,
    client_name: str,
    retries: int = COMMAND_RETRIES,
    health_check_interval: int = HEALTH_CHECK_INTERVAL_S,
) -> redis.Redis:
    """A client for ``url``; connections are made lazily, so this never blocks or fails.

    ``retries=0`` and ``health_check_interval=0`` give a client that never reconnects
    behind its user's back (the relay's subscriber, which must *know* about every
    reconnect because it may have missed messages).
    """
    return redis.Redis.from_url(
        url,
        client_name=client_name[:63].replace(" ", "_"),
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=SOCKET_TIMEOUT_S,
        health_check_interval=health_check_interval,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), retries),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )


def connect_cluster(url: str, *, client_name: str, retries: int = COMMAND_RETRIES) -> RedisCluster:
    """A Redis Cluster client seeded by ``url`` (any node; the others are discovered).

    Lazy like :func:`connect`: the topology is read on the first command. Keyed commands
    go to the master owning the key's slot; a moved slot or a failed-over master makes the
    client re-read the topology and retry (``retries`` times) before the error reaches the
    caller.
    """
    return RedisCluster.from_url(
        url,
        client_name=client_name[:63].replace(" ", "_"),
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=SOCKET_TIMEOUT_S,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), retries),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        # A dead master's slots are uncovered until its replica takes over: keep
        # serving the other shards meanwhile.
        require_full_coverage=False,
    )


def node_url(url: str, host: str, port: int) -> str:
    """``url`` (credentials, TLS scheme) pointed at one cluster node, database 0."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    netloc = f"{userinfo}@{address}" if userinfo else address
    return urlunsplit((parts.scheme, netloc, "/0", parts.query, ""))


async def ping(client: Client) -> bool:
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
