"""Publishing tenant events: to this node's tenant actor now, to the others by relay."""

from __future__ import annotations

import logging
from uuid import UUID

import msgspec

from actors.node import tenant_actor
from actors.ports.relay import Relay
from actors.runtime import ActorStopped, Runtime

log = logging.getLogger(__name__)


class NodeEvents:
    """Implements :class:`actors.ports.events.TenantEvents`."""

    def __init__(self, runtime: Runtime, relay: Relay) -> None:
        self._runtime = runtime
        self._relay = relay

    async def publish(self, tenant_id: UUID, event: msgspec.Struct) -> None:
        try:
            self._runtime.registry.tell(tenant_actor.KIND, str(tenant_id), event)
        except ActorStopped:
            log.info("not delivering %s locally: the node is stopping", type(event).__name__)
        if not await self._relay.publish(tenant_id, event):
            # Other nodes reconcile from PostgreSQL after the relay gap (or periodically).
            log.warning("relay did not take %s for tenant %s", type(event).__name__, tenant_id)
