"""Where a node reads the emergencies it may have missed: PostgreSQL, through the unit of work.

Tenant actors ask it for a :class:`~actors.domain.emergencies.EmergencySnapshot` when
they start (or lost track), and for the outbox after the last number they applied when
they notice a gap; the watch service asks it for every tenant's head in one query.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from actors.domain.emergencies import EmergencyEvent, EmergencySnapshot
from actors.ports.uow import UnitOfWork

#: Ended emergencies a snapshot includes (for screens reconnecting with an older last_seq).
SNAPSHOT_RECENT_ENDED = 64


class StoreEmergencyFeed:
    """Implements :class:`~actors.ports.emergencies.EmergencyFeed` over PostgreSQL."""

    def __init__(self, uow: UnitOfWork, recent_ended: int = SNAPSHOT_RECENT_ENDED) -> None:
        self._uow = uow
        self._recent = recent_ended

    async def snapshot(self, tenant_id: UUID, also: Sequence[UUID]) -> EmergencySnapshot:
        async with self._uow.tenant(tenant_id) as tx:
            return await tx.emergencies.snapshot(tenant_id, also=also, recent=self._recent)

    async def events_after(self, tenant_id: UUID, seq: int, limit: int) -> list[EmergencyEvent]:
        async with self._uow.tenant(tenant_id) as tx:
            return await tx.emergencies.events_after(tenant_id, seq, limit=limit)

    async def heads(self, tenant_ids: Sequence[UUID]) -> dict[UUID, int]:
        if not tenant_ids:
            return {}
        async with self._uow.platform() as tx:
            return await tx.emergencies.heads(tenant_ids)
