"""Schedule entries as admins write and read them (API.md), and as stored.

The API names targets ``{"all": true}``, ``{"groups": [...]}`` or ``{"device_ids": [...]}``
and daily times ``"HH:MM"``; :class:`~actors.domain.schedule_types.ScheduleEntry` is the
resolution's view of the same entry. :class:`TargetSpec` converts one way,
:meth:`TargetSpec.of` the other, so what an admin wrote is what they read back.
"""

from __future__ import annotations

from datetime import datetime, time
from uuid import UUID

import msgspec

from actors.domain.schedule_types import ScheduleEntry
from actors.domain.targets import TargetSpec


class ScheduleRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A stored entry and who wrote it."""

    entry: ScheduleEntry
    created_by: UUID

    @property
    def ref(self) -> str:
        """How audit entries name it."""
        return f"schedule:{self.entry.id}"


class ScheduleView(msgspec.Struct, frozen=True, kw_only=True):
    """What admins see: the entry in the request's own shape."""

    id: UUID
    playlist_id: UUID
    target: TargetSpec
    priority: int
    starts_at: datetime | None
    ends_at: datetime | None
    days_of_week: list[int] | None
    start_time: str | None
    end_time: str | None
    timezone: str | None
    created_by: UUID
    created_at: datetime

    @classmethod
    def of(cls, record: ScheduleRecord) -> ScheduleView:
        entry = record.entry
        return cls(
            id=entry.id,
            playlist_id=entry.playlist_id,
            target=TargetSpec.of(entry.target),
            priority=entry.priority,
            starts_at=entry.starts_at,
            ends_at=entry.ends_at,
            days_of_week=None if entry.days_of_week is None else sorted(entry.days_of_week),
            start_time=_hh_mm(entry.start_time),
            end_time=_hh_mm(entry.end_time),
            timezone=entry.timezone,
            created_by=record.created_by,
            created_at=entry.created_at,
        )


def _hh_mm(clock: time | None) -> str | None:
    return None if clock is None else f"{clock.hour:02d}:{clock.minute:02d}"
