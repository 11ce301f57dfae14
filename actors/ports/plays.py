"""Proof of play: the store (store/repos/plays.py) and the sink device actors hand
reported plays to (actors/services/play_writer.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from actors.domain.plays import PlayBy, PlayRecord, PlayRow
from actors.protocol import PlayedItem


class PlayRepository(Protocol):
    async def record(self, plays: Sequence[PlayRecord]) -> int:
        """Batch of one tenant's plays (in that tenant's scope): count each play newer
        than its screen's mark, for content of the tenant, into its hour; move the marks.
        Returns the plays newer than the marks."""
        ...

    async def report(
        self,
        tenant_id: UUID,
        *,
        by: PlayBy,
        start: datetime,
        end: datetime,
        content_id: UUID | None,
        device_id: UUID | None,
        group: str | None,
        limit: int,
    ) -> list[PlayRow]:
        """Plays in ``[start, end)`` (whole UTC hours) summed per ``by``, most played
        first (``day``: in date order)."""
        ...

    async def purge(self, *, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` hour rows older than ``before`` (every tenant)."""
        ...


class PlaySink(Protocol):
    """Where device actors hand ``played`` items; batches them, never blocks or raises."""

    def played(
        self, tenant_id: UUID, device_id: UUID, items: Sequence[PlayedItem], at: datetime
    ) -> int:
        """Keep the acceptable items for the next write; returns how many were kept."""
        ...


class NoPlays:
    """Implements :class:`PlaySink` by dropping everything (unit tests, tools)."""

    def played(
        self, tenant_id: UUID, device_id: UUID, items: Sequence[PlayedItem], at: datetime
    ) -> int:
        return 0
