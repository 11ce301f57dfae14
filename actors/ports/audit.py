"""The hash-chained audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol
from uuid import UUID

from actors.domain.audit import AuditEntry
from actors.domain.principal import AuditActor, Principal


class AuditRepository(Protocol):
    """The hash-chained audit trail. ``tenant_id`` names the chain (``None``: platform)."""

    async def append(
        self,
        tenant_id: UUID | None,
        who: Principal | AuditActor,
        action: str,
        *,
        target: str,
        before: object = None,
        after: object = None,
        details: Mapping[str, object] | None = None,
    ) -> AuditEntry:
        """Seal and insert one entry at the head of ``tenant_id``'s chain, in this
        transaction (it commits or rolls back with the change it records).

        Takes the chain's lock until the transaction ends, so append *after every other
        write* of the transaction: the lock is then short, and a transaction holding it
        never waits for a row lock (which could deadlock with one waiting for the chain).
        Needs READ COMMITTED (the default). ``before``/``after``/``details`` must hold no
        secret.
        """
        ...

    async def query(
        self,
        tenant_id: UUID | None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        action: str | None = None,
        actor: str | None = None,
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Newest first."""
        ...

    async def page(self, tenant_id: UUID | None, *, after_seq: int, limit: int) -> list[AuditEntry]:
        """Chain order (oldest first), entries with ``seq > after_seq``."""
        ...

    async def head_seq(self, tenant_id: UUID | None) -> int:
        """The newest entry's ``seq`` (0: empty); the chain's length while it is intact."""
        ...
