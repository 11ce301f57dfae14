"""Proof-of-play reports: plays per content item, screen, group or UTC day over a period
(viewer+), and the retention of the hourly rollups."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from uuid import UUID

import msgspec

from actors.domain.plays import MAX_REPORT_DAYS, PlayBy, PlayRow
from actors.domain.principal import Principal
from actors.domain.rbac import Permission, authorize
from actors.errors import Invalid, NotFound
from actors.ports.uow import UnitOfWork

#: Rows one report holds at most (``truncated`` says when there were more).
MAX_ROWS = 10_000
#: The default period: the last 7 UTC days, today included.
DEFAULT_DAYS = 7


class PlayQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``GET .../plays?by=&first_day=&last_day=&content_id=&device_id=&group=``: ``first_day`` and
    ``last_day`` are UTC days, both included (default: the last 7 days)."""

    by: PlayBy = "content"
    first_day: date | None = None
    last_day: date | None = None
    content_id: UUID | None = None
    device_id: UUID | None = None
    group: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None


class PlayReport(msgspec.Struct, frozen=True, kw_only=True):
    by: PlayBy
    first_day: date
    last_day: date
    items: list[PlayRow]
    #: More rows than :data:`MAX_ROWS` matched: narrow the period or filter.
    truncated: bool = False


def utc_now() -> datetime:
    return datetime.now(UTC)


class Plays:
    def __init__(
        self, uow: UnitOfWork, *, retention_days: int, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._uow = uow
        self._retention = timedelta(days=retention_days)
        self._clock = clock

    async def report(self, who: Principal, tenant_id: UUID, q: PlayQuery) -> PlayReport:
        """:raises Invalid: (422) for ``first_day`` after ``last_day`` or a period longer than
        MAX_REPORT_DAYS."""
        authorize(who, Permission.PLAY_READ, tenant_id)
        last_day = q.last_day or self._clock().date()
        first_day = q.first_day or last_day - timedelta(days=DEFAULT_DAYS - 1)
        if first_day > last_day:
            raise Invalid("first_day is after last_day", field="first_day")
        if (last_day - first_day).days >= MAX_REPORT_DAYS:
            raise Invalid(f"a report covers at most {MAX_REPORT_DAYS} days", field="first_day")
        start = datetime.combine(first_day, time(), UTC)
        end = datetime.combine(last_day + timedelta(days=1), time(), UTC)
        async with self._uow.tenant(tenant_id) as tx:
            if await tx.tenants.get(tenant_id) is None:
                raise NotFound("no such tenant")
            rows = await tx.plays.report(
                tenant_id,
                by=q.by,
                start=start,
                end=end,
                content_id=q.content_id,
                device_id=q.device_id,
                group=q.group,
                limit=MAX_ROWS + 1,
            )
        return PlayReport(
            by=q.by,
            first_day=first_day,
            last_day=last_day,
            items=rows[:MAX_ROWS],
            truncated=len(rows) > MAX_ROWS,
        )

    async def purge(self) -> int:
        """Delete hours older than PLAY_RETENTION_DAYS (a batch; housekeeping)."""
        async with self._uow.platform() as tx:
            return await tx.plays.purge(before=self._clock() - self._retention, limit=50_000)
