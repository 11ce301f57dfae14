"""SQL for emergencies: the record, the per-tenant sequence, the outbox, acknowledgements.

Every start and end is one statement that takes the tenant's next sequence number and
writes the outbox row with it (``emergency_sequences`` stays row-locked until the
transaction ends: numbers are gapless and commit in order). Ends lock the emergency's row
*before* the counter, so that two nodes expiring the same emergency queue on the row and
the loser finds it ended without consuming a number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import msgspec
from psycopg import sql
from psycopg.rows import dict_row

from actors.domain.emergencies import (
    AckStats,
    Emergency,
    EmergencyAck,
    EmergencyEnded,
    EmergencyEvent,
    EmergencySnapshot,
    EndReason,
)
from actors.domain.emergency_delivery import TargetedScreen
from actors.domain.targets import DeviceTarget, GroupTarget, Target, TenantTarget
from actors.pagination import ByName, BySeq, PageRequest
from actors.protocol import EmergencyMode, Severity
from store.db import Connection
from store.keyset import Keyset

_COLUMNS = sql.SQL("""id, tenant_id, seq, message, severity, target_all, target_groups,
    target_devices, targeted, started_at, expires_at, started_by, broadcast_id, ended_at,
    ended_seq, end_reason, ended_by, mode""")
_E_COLUMNS = sql.SQL("""e.id, e.tenant_id, e.seq, e.message, e.severity, e.target_all,
    e.target_groups, e.target_devices, e.targeted, e.started_at, e.expires_at, e.started_by,
    e.broadcast_id, e.ended_at, e.ended_seq, e.end_reason, e.ended_by, e.mode""")

# The device filter of a target, with the target passed as parameters (so the planner
# sees constants: a hashed ANY for long device lists).
_TARGETED = sql.SQL("""(%(everyone)s OR d.groups && %(groups)s::text[]
               OR d.id = ANY(%(devices)s::uuid[]))""")

_START = sql.SQL("""
WITH next AS (
    INSERT INTO emergency_sequences AS s (tenant_id, last_seq) VALUES (%(tenant_id)s, 1)
    ON CONFLICT (tenant_id) DO UPDATE SET last_seq = s.last_seq + 1
    RETURNING last_seq
), matched AS (
    SELECT count(*)::integer AS n FROM devices d
    WHERE d.tenant_id = %(tenant_id)s AND d.status = 'approved' AND {targeted}
), clock AS (
    SELECT clock_timestamp() AS now
), started AS (
    INSERT INTO emergencies (id, tenant_id, seq, message, severity, target_all, target_groups,
                             target_devices, targeted, started_at, expires_at, started_by,
                             broadcast_id, mode)
    SELECT %(id)s, %(tenant_id)s, next.last_seq, %(message)s, %(severity)s, %(everyone)s,
           %(groups)s::text[], %(devices)s::uuid[], matched.n, clock.now,
           clock.now + make_interval(secs => %(expires_in_s)s::integer), %(started_by)s,
           %(broadcast_id)s, %(mode)s
    FROM next, matched, clock
    RETURNING {columns}
), outbox AS (
    INSERT INTO emergency_events (tenant_id, seq, emergency_id, kind, at)
    SELECT tenant_id, seq, id, 'started', started_at FROM started
)
SELECT {columns} FROM started
""").format(columns=_COLUMNS, targeted=_TARGETED)

# Takes (creating it at 0 if need be) the tenant's counter row, held until the transaction
# ends: no other emergency of the tenant starts or ends meanwhile.
_LOCK_COUNTER = """
INSERT INTO emergency_sequences AS s (tenant_id, last_seq) VALUES (%(tenant_id)s, 0)
ON CONFLICT (tenant_id) DO UPDATE SET last_seq = s.last_seq
"""

_ACTIVE_LIVE = """
SELECT id FROM emergencies
WHERE tenant_id = %(tenant_id)s AND ended_at IS NULL AND mode = 'live'
ORDER BY seq
"""

# NO KEY UPDATE does not wait for acknowledgement writers (their foreign keys hold KEY
# SHARE); SKIP LOCKED leaves out a drill that another writer is ending at this instant
# (only enders lock these rows), so a caller holding the counter never waits for a row
# whose holder waits for the counter.
_ACTIVE_DRILLS = """
SELECT id FROM emergencies
WHERE tenant_id = %(tenant_id)s AND ended_at IS NULL AND mode = 'drill'
ORDER BY seq
FOR NO KEY UPDATE SKIP LOCKED
"""

_LOCK_ACTIVE = """
SELECT id FROM emergencies
WHERE tenant_id = %(tenant_id)s AND id = %(id)s AND ended_at IS NULL
  AND (NOT %(due_only)s OR expires_at <= clock_timestamp())
FOR UPDATE
"""

_END = sql.SQL("""
WITH next AS (
    UPDATE emergency_sequences SET last_seq = last_seq + 1
    WHERE tenant_id = %(tenant_id)s
    RETURNING last_seq
), ended AS (
    UPDATE emergencies e
    SET ended_at = clock_timestamp(), ended_seq = next.last_seq, end_reason = %(reason)s,
        ended_by = %(ended_by)s
    FROM next
    WHERE e.tenant_id = %(tenant_id)s AND e.id = %(id)s AND e.ended_at IS NULL
    RETURNING {e_columns}
), outbox AS (
    INSERT INTO emergency_events (tenant_id, seq, emergency_id, kind, at)
    SELECT tenant_id, ended_seq, id, end_reason, ended_at FROM ended
)
SELECT {columns} FROM ended
""").format(columns=_COLUMNS, e_columns=_E_COLUMNS)

_GET = sql.SQL(
    "SELECT {columns} FROM emergencies WHERE tenant_id = %(tenant_id)s AND id = %(id)s"
).format(columns=_COLUMNS)

_NEWEST_FIRST = Keyset("seq", descending=True)
# ``active``: NULL every emergency, true those still showing, false those ended;
# ``mode``: NULL both, else live ones or drills only.
_PAGE = sql.SQL("""
SELECT {columns} FROM emergencies
WHERE tenant_id = %(tenant_id)s
  AND (%(active)s::boolean IS NULL OR (ended_at IS NULL) = %(active)s)
  AND (%(mode)s::text IS NULL OR mode = %(mode)s){after}
ORDER BY {order_by}
LIMIT %(limit)s
""")

# One statement, so that the head and the rows are one consistent snapshot: every event
# up to ``head`` is reflected in them.
_SNAPSHOT = sql.SQL("""
WITH head AS (
    SELECT coalesce(max(last_seq), 0) AS head
    FROM emergency_sequences WHERE tenant_id = %(tenant_id)s
), shown AS (
    (SELECT {columns} FROM emergencies
     WHERE tenant_id = %(tenant_id)s AND (ended_at IS NULL OR id = ANY(%(also)s::uuid[])))
    UNION
    (SELECT {columns} FROM emergencies
     WHERE tenant_id = %(tenant_id)s AND ended_at IS NOT NULL
     ORDER BY seq DESC LIMIT %(recent)s)
)
SELECT head.head, shown.* FROM head LEFT JOIN shown ON true
ORDER BY shown.seq
""").format(columns=_COLUMNS)

_EVENTS_AFTER = sql.SQL("""
SELECT ev.seq AS event_seq, ev.kind, {e_columns}
FROM emergency_events ev JOIN emergencies e ON e.id = ev.emergency_id
WHERE ev.tenant_id = %(tenant_id)s AND ev.seq > %(after)s
ORDER BY ev.seq
LIMIT %(limit)s
""").format(e_columns=_E_COLUMNS)

_OF_BROADCAST = sql.SQL("""
SELECT {columns} FROM emergencies
WHERE broadcast_id = %(broadcast_id)s
ORDER BY tenant_id
""").format(columns=_COLUMNS)

_HEADS = """
SELECT tenant_id, last_seq FROM emergency_sequences WHERE tenant_id = ANY(%(ids)s::uuid[])
"""

_DUE = """
SELECT tenant_id, id FROM emergencies
WHERE ended_at IS NULL AND expires_at <= clock_timestamp()
ORDER BY expires_at
LIMIT %(limit)s
"""

# Only acks that name an emergency and a device of the same tenant are kept; the first
# ack of a device counts. Whether the device is targeted is decided when counting.
# Answers, per ack stored, the seconds from the emergency's start to the ack (never < 0:
# the ack's time is the receiving node's clock).
_RECORD_ACKS = """
WITH stored AS (
    INSERT INTO emergency_acks (emergency_id, device_id, tenant_id, acked_at, node_id)
    SELECT v.emergency_id, v.device_id, v.tenant_id, v.at, v.node_id
    FROM unnest(%(emergencies)s::uuid[], %(devices)s::uuid[], %(tenants)s::uuid[],
                %(ats)s::timestamptz[], %(nodes)s::text[])
         AS v(emergency_id, device_id, tenant_id, at, node_id)
    JOIN emergencies e ON e.id = v.emergency_id AND e.tenant_id = v.tenant_id
    -- Only a screen the emergency targets (as it is grouped now) may acknowledge it: an
    -- ack for another screen's emergency would count as a delivery that never happened.
    JOIN devices d ON d.id = v.device_id AND d.tenant_id = v.tenant_id
     AND (e.target_all OR d.groups && e.target_groups OR d.id = ANY(e.target_devices))
    ON CONFLICT (emergency_id, device_id) DO NOTHING
    RETURNING emergency_id, tenant_id, acked_at
)
SELECT greatest(0, extract(epoch FROM s.acked_at - e.started_at))::float8
FROM stored s JOIN emergencies e ON e.id = s.emergency_id AND e.tenant_id = s.tenant_id
"""

# The screens an emergency's delivery is about, for the report's counters and the
# per-screen list alike (actors/domain/emergency_delivery.py): the devices the target
# selects now (approved), plus any that acknowledged it since (revoked or regrouped after
# acknowledging still counts as delivered); with each one's ack and its latency.
_TARGETED_SCREENS = sql.SQL("""
targeted AS (
    SELECT d.id, coalesce(d.name, '') AS name, a.acked_at,
           CASE WHEN a.acked_at IS NOT NULL THEN
               greatest(0, extract(epoch FROM a.acked_at - %(started_at)s) * 1000)::float8
           END AS latency_ms
    FROM devices d
    LEFT JOIN emergency_acks a ON a.emergency_id = %(id)s AND a.device_id = d.id
    WHERE d.tenant_id = %(tenant_id)s AND (d.status = 'approved' OR a.acked_at IS NOT NULL)
      AND {targeted}
)""").format(targeted=_TARGETED)

_DELIVERY = sql.SQL("""
WITH {targeted_screens}, latency AS (
    SELECT latency_ms AS ms FROM targeted WHERE acked_at IS NOT NULL
)
SELECT (SELECT count(*) FROM latency) AS delivered,
       (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) FROM latency) AS p50_ms,
       (SELECT percentile_disc(0.99) WITHIN GROUP (ORDER BY ms) FROM latency) AS p99_ms,
       coalesce((SELECT array_agg(id) FROM targeted WHERE acked_at IS NULL), '{{}}') AS unacked
""").format(targeted_screens=_TARGETED_SCREENS)

_BY_SCREEN = Keyset("name", "id")
# ``acked``: NULL every targeted screen, true the delivered ones, false the others (whether
# those are pending or offline is presence's to say).
_SCREENS = sql.SQL("""
WITH {targeted_screens}
SELECT id AS device_id, name, acked_at, latency_ms FROM targeted
WHERE (%(acked)s::boolean IS NULL OR (acked_at IS NOT NULL) = %(acked)s){after}
ORDER BY {order_by}
LIMIT %(limit)s
""")


def target_of_row(row: dict[str, Any]) -> Target:
    """The target stored in a row's three columns (popped), here and for emergency
    templates (store/repos/emergency_templates.py), which store it alike."""
    everyone = row.pop("target_all")
    groups = frozenset(row.pop("target_groups"))
    device_ids = frozenset(row.pop("target_devices"))
    if everyone:
        return TenantTarget()
    return GroupTarget(groups) if groups else DeviceTarget(device_ids)


def _emergency(row: dict[str, Any]) -> Emergency:
    target = target_of_row(row)
    return Emergency(**row, target=target)


#: For repositories that read emergencies in a join (store/repos/cap.py): the columns,
#: qualified by ``e.``, and a row of them as an :class:`Emergency`.
E_COLUMNS = _E_COLUMNS
emergency_of = _emergency


def target_params(target: Target) -> dict[str, Any]:
    """The target as the emergency's (or a template's) three columns (one of them set)."""

    return {
        "everyone": isinstance(target, TenantTarget),
        "groups": sorted(target.groups) if isinstance(target, GroupTarget) else [],
        "devices": sorted(target.device_ids) if isinstance(target, DeviceTarget) else [],
    }


class EmergencyRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def start(
        self,
        *,
        emergency_id: UUID,
        tenant_id: UUID,
        message: str,
        severity: Severity,
        target: Target,
        expires_in_s: int | None,
        started_by: str,
        broadcast_id: UUID | None = None,
        mode: EmergencyMode = "live",
    ) -> Emergency:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            _START,
            {
                "id": emergency_id,
                "tenant_id": tenant_id,
                "message": message,
                "severity": severity,
                "expires_in_s": expires_in_s,
                "started_by": started_by,
                "broadcast_id": broadcast_id,
                "mode": mode,
                **target_params(target),
            },
        )
        row = await cur.fetchone()
        assert row is not None
        return _emergency(row)

    async def lock_counter(self, tenant_id: UUID) -> None:
        await self._conn.execute(_LOCK_COUNTER, {"tenant_id": tenant_id})

    async def active_live(self, tenant_id: UUID) -> list[UUID]:
        cur = await self._conn.execute(_ACTIVE_LIVE, {"tenant_id": tenant_id})
        return [emergency_id for (emergency_id,) in await cur.fetchall()]

    async def end_drills(self, tenant_id: UUID, *, ended_by: str) -> list[Emergency]:
        cur = await self._conn.execute(_ACTIVE_DRILLS, {"tenant_id": tenant_id})
        ended: list[Emergency] = []
        for (emergency_id,) in await cur.fetchall():
            done = await self.end(tenant_id, emergency_id, reason="cleared", ended_by=ended_by)
            if done is not None:
                ended.append(done)
        return ended

    async def end(
        self,
        tenant_id: UUID,
        emergency_id: UUID,
        *,
        reason: EndReason,
        ended_by: str,
    ) -> Emergency | None:
        params = {"tenant_id": tenant_id, "id": emergency_id, "due_only": reason == "expired"}
        cur = await self._conn.execute(_LOCK_ACTIVE, params)
        if await cur.fetchone() is None:
            return None
        dict_cur = self._conn.cursor(row_factory=dict_row)
        await dict_cur.execute(_END, {**params, "reason": reason, "ended_by": ended_by})
        row = await dict_cur.fetchone()
        return None if row is None else _emergency(row)

    async def get(self, tenant_id: UUID, emergency_id: UUID) -> Emergency | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_GET, {"tenant_id": tenant_id, "id": emergency_id})
        row = await cur.fetchone()
        return None if row is None else _emergency(row)

    async def snapshot(
        self, tenant_id: UUID, *, also: Sequence[UUID], recent: int
    ) -> EmergencySnapshot:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_SNAPSHOT, {"tenant_id": tenant_id, "also": list(also), "recent": recent})
        head = 0
        active = []
        ended = []
        for row in await cur.fetchall():
            head = int(row.pop("head"))
            if row["id"] is None:
                continue
            emergency = _emergency(row)
            if emergency.active:
                active.append(emergency.started())
            else:
                ended.append(emergency)
        return EmergencySnapshot(head=head, active=tuple(active), ended=tuple(ended))

    async def events_after(self, tenant_id: UUID, seq: int, *, limit: int) -> list[EmergencyEvent]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_EVENTS_AFTER, {"tenant_id": tenant_id, "after": seq, "limit": limit})
        events: list[EmergencyEvent] = []
        for row in await cur.fetchall():
            event_seq: int = row.pop("event_seq")
            kind: str = row.pop("kind")
            emergency = _emergency(row)
            if kind == "started":
                events.append(emergency.started())
            else:
                reason: EndReason = "expired" if kind == "expired" else "cleared"
                events.append(EmergencyEnded(id=emergency.id, seq=event_seq, reason=reason))
        return events

    async def of_broadcast(self, broadcast_id: UUID) -> Sequence[Emergency]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_OF_BROADCAST, {"broadcast_id": broadcast_id})
        return [_emergency(row) for row in await cur.fetchall()]

    async def heads(self, tenant_ids: Sequence[UUID]) -> dict[UUID, int]:
        cur = await self._conn.execute(_HEADS, {"ids": list(tenant_ids)})
        return {tenant_id: int(seq) for tenant_id, seq in await cur.fetchall()}

    async def due_for_expiry(self, *, limit: int) -> list[tuple[UUID, UUID]]:
        cur = await self._conn.execute(_DUE, {"limit": limit})
        return [(tenant_id, emergency_id) for tenant_id, emergency_id in await cur.fetchall()]

    async def record_acks(self, acks: Sequence[EmergencyAck]) -> list[float]:
        if not acks:
            return []
        cur = await self._conn.execute(
            _RECORD_ACKS,
            {
                "emergencies": [a.emergency_id for a in acks],
                "devices": [a.device_id for a in acks],
                "tenants": [a.tenant_id for a in acks],
                "ats": [a.at for a in acks],
                "nodes": [a.node_id for a in acks],
            },
        )
        return [float(row[0]) for row in await cur.fetchall()]

    async def delivery(self, emergency: Emergency) -> tuple[AckStats, list[UUID]]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            _DELIVERY,
            {
                "id": emergency.id,
                "tenant_id": emergency.tenant_id,
                "started_at": emergency.started_at,
                **target_params(emergency.target),
            },
        )
        row = await cur.fetchone()
        assert row is not None
        unacked: list[UUID] = list(row.pop("unacked"))
        return msgspec.convert(row, AckStats), unacked

    async def screens(
        self,
        emergency: Emergency,
        *,
        after: ByName | None,
        acked: bool | None,
        limit: int,
    ) -> list[TargetedScreen]:
        query, params = _BY_SCREEN.page(_SCREENS, after, targeted_screens=_TARGETED_SCREENS)
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            query,
            {
                "id": emergency.id,
                "tenant_id": emergency.tenant_id,
                "started_at": emergency.started_at,
                "acked": acked,
                "limit": limit,
                **target_params(emergency.target),
                **params,
            },
        )
        return [msgspec.convert(row, TargetedScreen) for row in await cur.fetchall()]

    async def page(
        self,
        tenant_id: UUID,
        page: PageRequest[BySeq],
        *,
        active: bool | None,
        mode: EmergencyMode | None = None,
    ) -> list[Emergency]:
        query, params = _NEWEST_FIRST.page(_PAGE, page.after, columns=_COLUMNS)
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            query,
            {
                "tenant_id": tenant_id,
                "active": active,
                "mode": mode,
                "limit": page.fetch,
                **params,
            },
        )
        return [_emergency(row) for row in await cur.fetchall()]
