"""What use cases tell the live layer after they commit."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

import msgspec


class TenantEvents(Protocol):
    """Tells live sessions about committed changes (actors/events.py)."""

    async def publish(self, tenant_id: UUID, event: msgspec.Struct) -> None:
        """Deliver to this node's tenant actor now and to the other nodes over the relay.
        Call only after the change committed; never raises for relay trouble."""
        ...
