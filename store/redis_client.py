"""The Redis client: optional (no ``REDIS_URL`` means one node), never a source of truth.

Commands retry with exponential backoff on connection errors; callers still treat Redis
as allowed to fail, because principle 4 says nothing may be lost when it does.
"""

from __future__ import annotations

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

#: Retries of one command on a dropped connection before the error reaches the caller.
COMMAND_RETRIES = 3
SOCKET_TIMEOUT_S = 5.0
HEALTH_CHECK_INTERVAL_S = 15


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


async def ping(client: redis.Redis) -> bool:
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
