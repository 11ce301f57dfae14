"""Emergencies, their sequence and their acks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

from actors.domain.emergencies import (
    AckStats,
    Emergency,
    EmergencyAck,
    EmergencyEvent,
    EmergencySnapshot,
    EndReason,
)
from actors.domain.emergency_delivery import TargetedScreen
from actors.domain.targets import Target
from actors.pagination import ByName, BySeq, PageRequest
from actors.protocol import EmergencyMode, Severity


class EmergencyRepository(Protocol):
    """Emergencies, their per-tenant sequence and outbox, and acknowledgements."""

    async def start(
        self,
        *,
        emergency_id: UUID,
        tenant_id: UUID,
        message: str,
        severity: Severity,
        target: Target,
        expires_in_s: int | None,
        started_by: str,
        broadcast_id: UUID | None = None,
        mode: EmergencyMode = "live",
    ) -> Emergency:
        """Insert the emergency with the tenant's next sequence number and its ``started``
        outbox event; ``targeted`` counts the approved devices the target matches.

        Locks the tenant's sequence counter until the transaction ends.
        """
        ...

    async def lock_counter(self, tenant_id: UUID) -> None:
        """Lock the tenant's sequence counter until the transaction ends (what every start
        and end does first): no emergency of the tenant starts or ends meanwhile. Take it
        before reading what a start depends on."""
        ...

    async def active_live(self, tenant_id: UUID) -> list[UUID]:
        """Ids of the tenant's active live emergencies (drills left out)."""
        ...

    async def end_drills(self, tenant_id: UUID, *, ended_by: str) -> list[Emergency]:
        """End (``cleared``) every active drill of the tenant; call it holding the counter
        (after a start). A drill that another writer is ending at that instant is left to
        it (never waited for: that writer waits for the counter)."""
        ...

    async def end(
        self, tenant_id: UUID, emergency_id: UUID, *, reason: EndReason, ended_by: str
    ) -> Emergency | None:
        """End it (next sequence number, outbox event) if it is still active — and, for
        ``reason="expired"``, due; ``None`` otherwise (already ended: nothing written)."""
        ...

    async def get(self, tenant_id: UUID, emergency_id: UUID) -> Emergency | None: ...

    async def snapshot(
        self, tenant_id: UUID, *, also: Sequence[UUID], recent: int
    ) -> EmergencySnapshot:
        """The tenant's head and active emergencies, with the ``recent`` latest ended ones
        and those of ``also`` (ended or not), as of one instant."""
        ...

    async def events_after(self, tenant_id: UUID, seq: int, *, limit: int) -> list[EmergencyEvent]:
        """The outbox after ``seq``, in order (at most ``limit`` events)."""
        ...

    async def of_broadcast(self, broadcast_id: UUID) -> Sequence[Emergency]:
        """Every tenant's row of one platform-wide broadcast. Platform scope."""
        ...

    async def heads(self, tenant_ids: Sequence[UUID]) -> dict[UUID, int]:
        """Last sequence numbers of these tenants (absent: none yet). Platform scope."""
        ...

    async def due_for_expiry(self, *, limit: int) -> list[tuple[UUID, UUID]]:
        """``(tenant_id, emergency_id)`` of active emergencies past their expiry, oldest
        first. Platform scope."""
        ...

    async def record_acks(self, acks: Sequence[EmergencyAck]) -> list[float]:
        """Store a batch in one statement (first ack per device wins; acks naming another
        tenant's emergency or device are dropped); returns, for each ack that was new, the
        seconds from its emergency's start to the ack. Platform scope."""
        ...

    async def delivery(self, emergency: Emergency) -> tuple[AckStats, list[UUID]]:
        """Acknowledgements of the devices the emergency targets, and which of those
        devices have not acknowledged yet."""
        ...

    async def screens(
        self,
        emergency: Emergency,
        *,
        after: ByName | None,
        acked: bool | None,
        limit: int,
    ) -> list[TargetedScreen]:
        """Up to ``limit`` of the screens :meth:`delivery` counts (the same set), by name
        then id after ``after``; ``acked`` true only those with a stored ack, false only
        those without, ``None`` both."""
        ...

    async def page(
        self,
        tenant_id: UUID,
        page: PageRequest[BySeq],
        *,
        active: bool | None,
        mode: EmergencyMode | None = None,
    ) -> list[Emergency]:
        """Newest first."""
        ...


class EmergencyFeed(Protocol):
    """Where a node's live layer reads the emergencies it may have missed (the emergency
    watch, and a tenant actor's start)."""

    async def snapshot(self, tenant_id: UUID, also: Sequence[UUID]) -> EmergencySnapshot:
        """The tenant's emergencies now; ``also`` names emergencies the caller shows,
        whose end it must learn of even if long ago.

        :raises Unavailable: if PostgreSQL cannot be reached.
        """
        ...

    async def events_after(self, tenant_id: UUID, seq: int, limit: int) -> list[EmergencyEvent]:
        """The tenant's outbox after ``seq``, in order, at most ``limit`` events.

        :raises Unavailable: if PostgreSQL cannot be reached.
        """
        ...

    async def heads(self, tenant_ids: Sequence[UUID]) -> dict[UUID, int]:
        """The last sequence number of each tenant that has one (one query).

        :raises Unavailable: if PostgreSQL cannot be reached.
        """
        ...
