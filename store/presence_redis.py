"""Presence in Redis: one expiring key per live session, written by the node holding it.

Key ``<prefix>:presence:{<tenant>}:<device>``, value ``<node_id>\\x1f<unix seconds>``, TTL a
few presence intervals: a node that dies takes its devices offline by itself. Redis trouble
is logged and swallowed: presence is a view, never the truth (principle 4).

The tenant is the key's hash tag: on a Redis Cluster (``REDIS_CLUSTER``) every key of a
tenant lives in one slot, so a tenant's lookup is one ``MGET`` on one master, never a
cross-slot command; tenants spread over the shards.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from actors.domain.devices import Presence
from store.redis_client import Client

log = logging.getLogger(__name__)

SEP = "\x1f"
_ERRORS = (RedisError, RedisClusterException, OSError)
#: Keys per pipeline round trip.
CHUNK = 1000
#: Deletes the key only if this node still owns it (the device may have moved on).
_FORGET = """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. '\\31' then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisPresence:
    """Implements :class:`actors.ports.sessions.SharedPresence`."""

    def __init__(self, client: Client, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix
        self._forget = client.register_script(_FORGET)

    def _key(self, tenant_id: UUID, device_id: UUID) -> str:
        return f"{self._prefix}:presence:{{{tenant_id}}}:{device_id}"

    async def publish(
        self, node_id: str, live: Sequence[tuple[UUID, UUID, datetime]], ttl_s: int
    ) -> None:
        try:
            for start in range(0, len(live), CHUNK):
                async with self._redis.pipeline(transaction=False) as pipe:
                    for tenant_id, device_id, seen in live[start : start + CHUNK]:
                        value = f"{node_id}{SEP}{seen.timestamp():.3f}"
                        pipe.set(self._key(tenant_id, device_id), value, ex=ttl_s)
                    await pipe.execute()
        except _ERRORS as exc:
            log.warning("presence publish failed: %s", exc)

    async def forget(self, node_id: str, gone: Sequence[tuple[UUID, UUID]]) -> None:
        """Delete the keys of ``gone`` that this node still owns, :data:`CHUNK` per round
        trip (a draining node forgets all its sessions at once). On a Redis Cluster one
        script call at a time: its pipeline cannot load the script on each shard."""
        try:
            if isinstance(self._redis, RedisCluster):
                for tenant_id, device_id in gone:
                    await self._forget(keys=[self._key(tenant_id, device_id)], args=[node_id])
                return
            for start in range(0, len(gone), CHUNK):
                async with self._redis.pipeline(transaction=False) as pipe:
                    for tenant_id, device_id in gone[start : start + CHUNK]:
                        key = self._key(tenant_id, device_id)
                        # Queued, not sent: the pipeline loads the script if Redis lacks it.
                        await self._forget(keys=[key], args=[node_id], client=pipe)
                    await pipe.execute()
        except _ERRORS as exc:
            log.warning("presence forget failed: %s", exc)

    async def lookup(self, tenant_id: UUID, device_ids: Sequence[UUID]) -> dict[UUID, Presence]:
        found: dict[UUID, Presence] = {}
        if not device_ids:
            return found
        try:
            for start in range(0, len(device_ids), CHUNK):
                chunk = device_ids[start : start + CHUNK]
                values = await self._redis.mget([self._key(tenant_id, d) for d in chunk])
                for device_id, raw in zip(chunk, values, strict=True):
                    if raw is None:
                        continue
                    text = raw.decode() if isinstance(raw, bytes) else str(raw)
                    node, _, seen = text.partition(SEP)
                    found[device_id] = Presence(node, datetime.fromtimestamp(float(seen), UTC))
        except (*_ERRORS, ValueError) as exc:
            log.warning("presence lookup failed: %s", exc)
        return found
