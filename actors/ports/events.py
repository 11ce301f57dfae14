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


class OtherNodes(Protocol):
    """Tells the *other* nodes' tenant actors (the relay, :class:`~actors.ports.relay.Relay`
    implements it): for what this node delivers to its own sessions itself."""

    async def publish(self, tenant_id: UUID, message: msgspec.Struct) -> bool:
        """``False`` if the message could not be handed over (the other nodes catch up
        from PostgreSQL); never raises for relay trouble."""
        ...
