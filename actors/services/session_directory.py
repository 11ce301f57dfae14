"""The session directory over the unit of work: what reconciliation checks against."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from actors.ports.sessions import SessionIdentity
from actors.ports.uow import UnitOfWork


class StoreDirectory:
    """Implements :class:`~actors.ports.sessions.SessionDirectory`."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def allowed(
        self, tenant_id: UUID, device_ids: Sequence[UUID]
    ) -> dict[UUID, SessionIdentity]:
        async with self._uow.tenant(tenant_id) as tx:
            grants = await tx.devices.session_grants(tenant_id, device_ids)
        return {
            g.device_id: SessionIdentity(
                device_id=g.device_id,
                tenant_id=tenant_id,
                groups=g.groups,
                timezone=g.timezone,
                name=g.name,
                secret_digest=g.secret_hash,
            )
            for g in grants
        }
