"""SQL for proof of play: hourly rollups, per-screen marks, reports, retention
(sql/0191_proof_of_play.sql)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import msgspec
from psycopg import sql
from psycopg.rows import dict_row

from actors.domain.plays import PlayBy, PlayRecord, PlayRow, roll_up
from store.db import Connection

# Marks exist for every screen of the batch (a new one starts at the epoch), so the
# FOR UPDATE below locks one row per screen: two nodes writing the same screen's plays
# (its session moved) queue, and the second sees the first one's mark.
_ENSURE_MARKS = """
INSERT INTO play_marks (device_id, tenant_id, last_started_at)
SELECT m.device_id, m.tenant_id, 'epoch'::timestamptz
FROM unnest(%(devices)s::uuid[], %(tenants)s::uuid[]) AS m (device_id, tenant_id)
JOIN devices d ON d.id = m.device_id AND d.tenant_id = m.tenant_id
ON CONFLICT (device_id) DO NOTHING
"""
_LOCK_MARKS = """
SELECT device_id, tenant_id, last_started_at FROM play_marks
WHERE device_id = ANY (%(devices)s::uuid[])
ORDER BY device_id
FOR UPDATE
"""
# Only content of the screen's own tenant counts: a screen naming another tenant's item
# (or an unknown id) adds nothing.
_ADD_HOURS = """
INSERT INTO play_hours (tenant_id, hour, device_id, content_id, plays, duration_ms)
SELECT r.tenant_id, r.hour, r.device_id, r.content_id, r.plays, r.duration_ms
FROM unnest(%(tenants)s::uuid[], %(hours)s::timestamptz[], %(devices)s::uuid[],
            %(contents)s::uuid[], %(plays)s::integer[], %(durations)s::bigint[])
     AS r (tenant_id, hour, device_id, content_id, plays, duration_ms)
JOIN content c ON c.id = r.content_id AND c.tenant_id = r.tenant_id
ON CONFLICT (tenant_id, hour, device_id, content_id) DO UPDATE
SET plays = play_hours.plays + EXCLUDED.plays,
    duration_ms = play_hours.duration_ms + EXCLUDED.duration_ms
"""
_MOVE_MARKS = """
UPDATE play_marks m SET last_started_at = u.at
FROM unnest(%(devices)s::uuid[], %(ats)s::timestamptz[]) AS u (device_id, at)
WHERE m.device_id = u.device_id AND u.at > m.last_started_at
"""
_PURGE = """
DELETE FROM play_hours WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM play_hours WHERE hour < %(before)s LIMIT %(limit)s
))
"""

_FILTERS = sql.SQL("""
WHERE p.tenant_id = %(tenant_id)s AND p.hour >= %(start)s AND p.hour < %(end)s
  AND (%(content_id)s::uuid IS NULL OR p.content_id = %(content_id)s)
  AND (%(device_id)s::uuid IS NULL OR p.device_id = %(device_id)s)
  AND (%(group)s::text IS NULL OR %(group)s = ANY (d.groups))
""")
_REPORTS: dict[PlayBy, sql.Composed] = {
    "content": sql.SQL("""
SELECT p.content_id::text AS key, min(r.name) AS name,
       sum(p.plays)::bigint AS plays, sum(p.duration_ms)::bigint AS duration_ms
FROM play_hours p JOIN devices d ON d.id = p.device_id
JOIN content c ON c.id = p.content_id
LEFT JOIN content_revisions r ON r.content_id = c.id AND r.number = c.revision
{filters}
GROUP BY p.content_id ORDER BY plays DESC, key LIMIT %(limit)s
""").format(filters=_FILTERS),
    "device": sql.SQL("""
SELECT p.device_id::text AS key, min(d.name) AS name,
       sum(p.plays)::bigint AS plays, sum(p.duration_ms)::bigint AS duration_ms
FROM play_hours p JOIN devices d ON d.id = p.device_id
{filters}
GROUP BY p.device_id ORDER BY plays DESC, key LIMIT %(limit)s
""").format(filters=_FILTERS),
    "group": sql.SQL("""
SELECT g.name AS key, NULL::text AS name,
       sum(p.plays)::bigint AS plays, sum(p.duration_ms)::bigint AS duration_ms
FROM play_hours p JOIN devices d ON d.id = p.device_id
CROSS JOIN LATERAL unnest(d.groups) AS g (name)
{filters}
GROUP BY g.name ORDER BY plays DESC, key LIMIT %(limit)s
""").format(filters=_FILTERS),
    "day": sql.SQL("""
SELECT to_char(p.hour AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS key, NULL::text AS name,
       sum(p.plays)::bigint AS plays, sum(p.duration_ms)::bigint AS duration_ms
FROM play_hours p JOIN devices d ON d.id = p.device_id
{filters}
GROUP BY key ORDER BY key LIMIT %(limit)s
""").format(filters=_FILTERS),
}


class PlayRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def record(self, plays: Sequence[PlayRecord]) -> int:
        if not plays:
            return 0
        screens = {p.device_id: p.tenant_id for p in plays}
        devices = list(screens)
        await self._conn.execute(
            _ENSURE_MARKS, {"devices": devices, "tenants": [screens[d] for d in devices]}
        )
        cur = await self._conn.execute(_LOCK_MARKS, {"devices": devices})
        marks = {device_id: (tenant_id, at) for device_id, tenant_id, at in await cur.fetchall()}
        counted: list[PlayRecord] = []
        newest: dict[UUID, datetime] = {}
        seen: set[tuple[UUID, datetime]] = set()
        for play in plays:
            mark = marks.get(play.device_id)
            # No mark: not a device of that tenant (deleted, or a lie); a start at or
            # before the mark, or twice in the batch: a repeat.
            if mark is None or mark[0] != play.tenant_id or play.started_at <= mark[1]:
                continue
            key = (play.device_id, play.started_at)
            if key in seen:
                continue
            seen.add(key)
            counted.append(play)
            latest = newest.get(play.device_id)
            if latest is None or play.started_at > latest:
                newest[play.device_id] = play.started_at
        if not counted:
            return 0
        hours = roll_up(counted)
        keys = list(hours)
        await self._conn.execute(
            _ADD_HOURS,
            {
                "tenants": [k.tenant_id for k in keys],
                "hours": [k.hour for k in keys],
                "devices": [k.device_id for k in keys],
                "contents": [k.content_id for k in keys],
                "plays": [hours[k][0] for k in keys],
                "durations": [hours[k][1] for k in keys],
            },
        )
        await self._conn.execute(
            _MOVE_MARKS, {"devices": list(newest), "ats": list(newest.values())}
        )
        return len(counted)

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
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            _REPORTS[by],
            {
                "tenant_id": tenant_id,
                "start": start,
                "end": end,
                "content_id": content_id,
                "device_id": device_id,
                "group": group,
                "limit": limit,
            },
        )
        return [msgspec.convert(row, PlayRow) for row in await cur.fetchall()]

    async def purge(self, *, before: datetime, limit: int) -> int:
        cur = await self._conn.execute(_PURGE, {"before": before, "limit": limit})
        return cur.rowcount
