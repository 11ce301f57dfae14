"""Per-screen delivery of an emergency: which targeted screens have it, which are online
and waiting, which are offline — and where each one is connected.

The states follow :func:`actors.domain.emergency_delivery.delivery_state`, the rule the
report's counters follow too, over the same set of screens (one SQL fragment): summed by
state, a full listing gives the report's ``delivered``/``pending``/``offline``.

PostgreSQL knows which screens acknowledged; only presence knows which of the others hold
a session. A ``pending`` or ``offline`` page is therefore found by reading unacknowledged
screens in key order, a batch at a time, and keeping those presence puts in the asked
state. One request reads at most :data:`SCAN_MAX` rows: past that it answers the screens
found so far (possibly none) with a cursor after the last row read, so a large tenant
with few offline screens costs a few bounded requests, never one unbounded one.
"""

from __future__ import annotations

from uuid import UUID

import msgspec

from actors.domain.emergency_delivery import DeliveryState, ScreenDelivery
from actors.domain.principal import Principal
from actors.domain.rbac import Permission, authorize
from actors.errors import NotFound
from actors.pagination import ByName, Page, PageRequest, Paging
from actors.ports.devices import PresenceReader
from actors.ports.uow import UnitOfWork

#: Unacknowledged screens read per step while looking for ``pending`` or ``offline`` ones.
SCAN_BATCH = 500
#: Rows one ``pending``/``offline`` request reads at most before answering.
SCAN_MAX = 10_000


class ScreenDeliveryQuery(Paging, frozen=True, forbid_unknown_fields=True):
    """``GET .../emergencies/{id}/deliveries?state=&limit=&cursor=``: the targeted screens by
    name then id; ``state`` those in one state only."""

    state: DeliveryState | None = None


class ScreenDeliveryList(msgspec.Struct, frozen=True):
    items: list[ScreenDelivery]
    #: The cursor of the next page; ``null`` on the last one. A ``pending`` or ``offline``
    #: page may hold fewer than ``limit`` screens (even none) and still have one.
    next_cursor: str | None = None


def _key(screen: ScreenDelivery) -> ByName:
    return ByName(screen.name, screen.device_id)


class EmergencyDeliveries:
    def __init__(
        self,
        uow: UnitOfWork,
        presence: PresenceReader,
        *,
        scan_batch: int = SCAN_BATCH,
        scan_max: int = SCAN_MAX,
    ) -> None:
        if not 1 <= scan_batch <= scan_max:
            raise ValueError("need 1 <= scan_batch <= scan_max")
        self._uow = uow
        self._presence = presence
        self._scan_batch = scan_batch
        self._scan_max = scan_max

    async def list(
        self,
        who: Principal,
        tenant_id: UUID,
        emergency_id: UUID,
        q: ScreenDeliveryQuery,
        page: PageRequest[ByName],
    ) -> Page[ScreenDelivery, ByName]:
        """One page of the emergency's targeted screens with their delivery state.

        :raises NotFound: (404) for an emergency the tenant does not have.
        """
        authorize(who, Permission.EMERGENCY_READ, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            emergency = await tx.emergencies.get(tenant_id, emergency_id)
        if emergency is None:
            raise NotFound("no such emergency")
        # Stored acks decide "delivered" exactly (SQL filters it); "pending" and "offline"
        # are both unacknowledged, told apart by presence below.
        acked = None if q.state is None else q.state == "delivered"
        filtered = q.state in ("pending", "offline")
        batch = max(page.fetch, self._scan_batch) if filtered else page.fetch
        found: list[ScreenDelivery] = []
        after = page.after
        scanned = 0
        while True:
            async with self._uow.tenant(tenant_id) as tx:
                rows = await tx.emergencies.screens(
                    emergency, after=after, acked=acked, limit=batch
                )
            online = await self._presence.lookup(tenant_id, [r.device_id for r in rows])
            for row in rows:
                live = online.get(row.device_id)
                screen = ScreenDelivery.of(row, None if live is None else live.node_id)
                if q.state is None or screen.state == q.state:
                    found.append(screen)
                    if len(found) == page.fetch:
                        return page.page(found, _key)
            scanned += len(rows)
            if len(rows) < batch:
                return page.page(found, _key)  # the end of the list
            after = ByName(rows[-1].name, rows[-1].device_id)
            if scanned >= self._scan_max:
                # Bounded work per request: what was found, and where to go on from.
                return Page(items=found, next=after)
