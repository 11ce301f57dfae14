"""What the CAP ingest needs from the store (store/repos/cap.py).

Every method takes the owning tenant explicitly (row-level security is the second wall
behind it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

import msgspec

from actors.domain.cap import CapAlert, CapAreaSettings, CapRef
from actors.domain.emergencies import Emergency


class CapThread(msgspec.Struct, frozen=True):
    """The alert thread some references belong to, as of this transaction."""

    thread_id: UUID
    #: The thread's emergency still showing, if any (its row locked until the transaction
    #: ends); else ``None``.
    showing: Emergency | None
    #: The thread's latest emergency, showing or not.
    latest: Emergency | None


class Recorded(msgspec.Struct, frozen=True):
    """A message this tenant received before (a duplicate) and the emergency it started
    or ended."""

    emergency_id: UUID | None


class CapRepository(Protocol):
    async def earlier(self, tenant_id: UUID, alert: CapAlert) -> Recorded | None:
        """The earlier copy of ``alert`` (same sender and identifier), if any."""
        ...

    async def record(
        self,
        tenant_id: UUID,
        alert: CapAlert,
        *,
        thread_id: UUID,
        emergency_id: UUID | None,
        received_by: str,
    ) -> Recorded | None:
        """Insert the message's row; ``None`` when it is new, else the earlier copy (a
        duplicate: nothing inserted). Waits for a concurrent transaction inserting the
        same (sender, identifier) to end: of two copies at once, one acts."""
        ...

    async def thread(self, tenant_id: UUID, refs: Sequence[CapRef]) -> CapThread | None:
        """The thread of ``refs`` (of the latest received one, if they name several);
        ``None``: this tenant received none of them.

        Locks the thread until the transaction ends (two messages answering the same
        alert are handled one after the other), then the showing emergency's row: both
        before any sequence counter, the lock order of every emergency end.
        """
        ...

    async def settings(self, tenant_id: UUID) -> CapAreaSettings:
        """The tenant's area mapping (empty when none was ever set)."""
        ...

    async def save_settings(
        self, tenant_id: UUID, settings: CapAreaSettings, *, updated_by: str
    ) -> None:
        """Replace the tenant's area mapping."""
        ...
