"""The serve nodes of the installation."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import msgspec

from actors.pagination import ByStart, PageRequest


class NodeInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One node of the cluster, as it last reported itself."""

    node_id: str
    started_at: datetime
    last_seen_at: datetime
    sessions: int
    stopped_at: datetime | None = None


class NodeRepository(Protocol):
    """The cluster's nodes (platform-level, not tenant data)."""

    async def heartbeat(self, node_id: str, started_at: datetime, sessions: int) -> None:
        """Upsert this node's row with ``last_seen_at = now()``."""
        ...

    async def stopped(self, node_id: str) -> None: ...

    async def page(self, page: PageRequest[ByStart]) -> Sequence[NodeInfo]:
        """Up to ``page.fetch`` nodes after ``page.after``, newest start first."""
        ...
