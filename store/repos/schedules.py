"""SQL for schedule entries (sql/0021_playlists_schedules.sql)."""

from __future__ import annotations

import builtins
from collections.abc import Collection
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.rows import dict_row

from actors.domain.schedule_types import ScheduleEntry
from actors.domain.schedules import ScheduleRecord
from actors.domain.targets import DeviceTarget, GroupTarget, Target, TenantTarget
from actors.pagination import ByCreation, PageRequest
from store.db import Connection
from store.keyset import Keyset

# Every query returns the same columns, those ``_record`` reads.
_INSERT = """
INSERT INTO schedules (id, tenant_id, playlist_id, target_scope, target_groups,
                       target_device_ids, priority, starts_at, ends_at, days_of_week,
                       start_time, end_time, timezone, created_by)
VALUES (%(id)s, %(tenant_id)s, %(playlist_id)s, %(scope)s, %(groups)s, %(device_ids)s,
        %(priority)s, %(starts_at)s, %(ends_at)s, %(days)s, %(start_time)s, %(end_time)s,
        %(timezone)s, %(created_by)s)
RETURNING id, playlist_id, target_scope, target_groups, target_device_ids, priority, starts_at,
       ends_at, days_of_week, start_time, end_time, timezone, created_by, created_at
"""
_GET = """
SELECT id, playlist_id, target_scope, target_groups, target_device_ids, priority, starts_at,
       ends_at, days_of_week, start_time, end_time, timezone, created_by, created_at
FROM schedules WHERE tenant_id = %(tenant_id)s AND id = %(id)s
"""
_LIST = """
SELECT id, playlist_id, target_scope, target_groups, target_device_ids, priority, starts_at,
       ends_at, days_of_week, start_time, end_time, timezone, created_by, created_at
FROM schedules WHERE tenant_id = %(tenant_id)s ORDER BY created_at, id
"""
_BY_CREATION = Keyset("created_at", "id")
_PAGE = sql.SQL("""
SELECT id, playlist_id, target_scope, target_groups, target_device_ids, priority, starts_at,
       ends_at, days_of_week, start_time, end_time, timezone, created_by, created_at
FROM schedules WHERE tenant_id = %(tenant_id)s{after}
ORDER BY {order_by}
LIMIT %(limit)s
""")
_DELETE = """
DELETE FROM schedules WHERE tenant_id = %(tenant_id)s AND id = %(id)s
RETURNING id, playlist_id, target_scope, target_groups, target_device_ids, priority, starts_at,
       ends_at, days_of_week, start_time, end_time, timezone, created_by, created_at
"""
_BY_PLAYLISTS = """
SELECT id, playlist_id, target_scope, target_groups, target_device_ids, priority, starts_at,
       ends_at, days_of_week, start_time, end_time, timezone, created_by, created_at
FROM schedules WHERE tenant_id = %(tenant_id)s AND playlist_id = ANY(%(ids)s::uuid[])
"""


def _target(row: dict[str, Any]) -> Target:
    scope = row["target_scope"]
    if scope == "tenant":
        return TenantTarget()
    if scope == "groups":
        return GroupTarget(frozenset(row["target_groups"]))
    return DeviceTarget(frozenset(row["target_device_ids"]))


def _record(row: dict[str, Any]) -> ScheduleRecord:
    days = row["days_of_week"]
    entry = ScheduleEntry(
        id=row["id"],
        playlist_id=row["playlist_id"],
        target=_target(row),
        priority=row["priority"],
        created_at=row["created_at"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        days_of_week=None if days is None else frozenset(days),
        start_time=row["start_time"],
        end_time=row["end_time"],
        timezone=row["timezone"],
    )
    return ScheduleRecord(entry=entry, created_by=row["created_by"])


class ScheduleRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def create(
        self, tenant_id: UUID, entry: ScheduleEntry, *, created_by: UUID
    ) -> ScheduleRecord:
        target = entry.target
        rows = await self._rows(
            _INSERT,
            {
                "id": entry.id,
                "tenant_id": tenant_id,
                "playlist_id": entry.playlist_id,
                "scope": target.__struct_config__.tag,
                "groups": sorted(target.groups) if isinstance(target, GroupTarget) else [],
                "device_ids": (
                    sorted(target.device_ids) if isinstance(target, DeviceTarget) else []
                ),
                "priority": entry.priority,
                "starts_at": entry.starts_at,
                "ends_at": entry.ends_at,
                "days": None if entry.days_of_week is None else sorted(entry.days_of_week),
                "start_time": entry.start_time,
                "end_time": entry.end_time,
                "timezone": entry.timezone,
                "created_by": created_by,
            },
        )
        return _record(rows[0])

    async def get(self, tenant_id: UUID, schedule_id: UUID) -> ScheduleRecord | None:
        rows = await self._rows(_GET, {"tenant_id": tenant_id, "id": schedule_id})
        return _record(rows[0]) if rows else None

    async def list(self, tenant_id: UUID) -> list[ScheduleRecord]:
        return [_record(row) for row in await self._rows(_LIST, {"tenant_id": tenant_id})]

    async def page(
        self, tenant_id: UUID, page: PageRequest[ByCreation]
    ) -> builtins.list[ScheduleRecord]:
        query, params = _BY_CREATION.page(_PAGE, page.after)
        rows = await self._rows(query, {"tenant_id": tenant_id, "limit": page.fetch, **params})
        return [_record(row) for row in rows]

    async def delete(self, tenant_id: UUID, schedule_id: UUID) -> ScheduleRecord | None:
        rows = await self._rows(_DELETE, {"tenant_id": tenant_id, "id": schedule_id})
        return _record(rows[0]) if rows else None

    async def entries(self, tenant_id: UUID) -> builtins.list[ScheduleEntry]:
        return [record.entry for record in await self.list(tenant_id)]

    async def targets_of_playlists(
        self, tenant_id: UUID, playlist_ids: Collection[UUID]
    ) -> builtins.list[Target]:
        if not playlist_ids:
            return []
        rows = await self._rows(_BY_PLAYLISTS, {"tenant_id": tenant_id, "ids": list(playlist_ids)})
        return [_target(row) for row in rows]

    async def _rows(
        self, query: str | sql.Composed, params: dict[str, Any]
    ) -> builtins.list[dict[str, Any]]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(query, params)
        return await cur.fetchall()
