"""SQL for webhooks: endpoints, the delivery outbox and its workers' queue, and the
records that make system-made events happen once (sql/0190_webhooks.sql)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from psycopg import sql
from psycopg.rows import dict_row

from actors.domain.webhooks import (
    DueDelivery,
    Event,
    EventType,
    OfflineCandidate,
    Outcome,
    WebhookDelivery,
    WebhookEndpoint,
    short_error,
)
from actors.pagination import ByCreation, BySeq, PageRequest
from store.db import Connection
from store.keyset import Keyset

_INSERT = """
INSERT INTO webhook_endpoints (id, tenant_id, url, events, description, secret, created_by)
VALUES (%(id)s, %(tenant_id)s, %(url)s, %(events)s, %(description)s, %(secret)s, %(by)s)
RETURNING id, tenant_id, url, events, description, created_by, created_at
"""
# The tenant's endpoint rows are counted under a transaction-scoped advisory lock keyed
# by the tenant, so two concurrent creations cannot both pass the per-tenant limit.
_COUNT = """
SELECT pg_advisory_xact_lock(hashtextextended('webhook_endpoints:' || %(tenant_id)s::text, 0)),
       (SELECT count(*) FROM webhook_endpoints
         WHERE tenant_id = %(tenant_id)s AND deleted_at IS NULL) AS n
"""
_GET = """
SELECT id, tenant_id, url, events, description, created_by, created_at FROM webhook_endpoints
WHERE tenant_id = %(tenant_id)s AND id = %(id)s AND deleted_at IS NULL
"""
_BY_CREATION = Keyset("created_at", "id")
_PAGE = sql.SQL("""
SELECT id, tenant_id, url, events, description, created_by, created_at FROM webhook_endpoints
WHERE tenant_id = %(tenant_id)s AND deleted_at IS NULL{after}
ORDER BY {order_by}
LIMIT %(limit)s
""")
_DELETE = """
UPDATE webhook_endpoints SET deleted_at = now(), deleted_by = %(by)s
WHERE tenant_id = %(tenant_id)s AND id = %(id)s AND deleted_at IS NULL
RETURNING id, tenant_id, url, events, description, created_by, created_at
"""
_CANCEL = """
UPDATE webhook_deliveries
SET state = 'cancelled', finished_at = now(), leased_until = NULL
WHERE tenant_id = %(tenant_id)s AND endpoint_id = %(id)s AND state = 'pending'
"""
_LOG_ORDER = Keyset("id", descending=True)
_LOG = sql.SQL("""
SELECT id, event_id, event_type, state, attempts, created_at,
       CASE WHEN state = 'pending' THEN next_attempt_at END AS next_attempt_at,
       last_attempt_at, last_status, last_error, finished_at FROM webhook_deliveries
WHERE tenant_id = %(tenant_id)s AND endpoint_id = %(id)s{after}
ORDER BY {order_by}
LIMIT %(limit)s
""")

# One delivery per live subscribed endpoint and event, in the events' order: the
# identity column then orders each endpoint's queue as the events were written.
_ENQUEUE = """
INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, event_type, body)
SELECT e.tenant_id, e.id, ev.event_id, ev.event_type, ev.body
FROM unnest(%(ids)s::uuid[], %(types)s::text[], %(bodies)s::text[])
     WITH ORDINALITY AS ev (event_id, event_type, body, n)
JOIN webhook_endpoints e
  ON e.tenant_id = %(tenant_id)s AND e.deleted_at IS NULL AND ev.event_type = ANY (e.events)
ORDER BY ev.n, e.id
"""
# The head of each endpoint's queue (its oldest pending row), if due and not leased.
# The due/lease conditions are on `d`, the locked row, so that READ COMMITTED re-checks
# them on the newest version when another worker changed it meanwhile: a worker never
# takes a row behind one that is still pending, so an endpoint's deliveries stay in order.
_CLAIM = """
WITH heads AS (
    SELECT DISTINCT ON (endpoint_id) id FROM webhook_deliveries
    WHERE state = 'pending'
    ORDER BY endpoint_id, id
), due AS (
    SELECT d.id FROM webhook_deliveries d JOIN heads h ON h.id = d.id
    WHERE d.state = 'pending' AND d.next_attempt_at <= now()
      AND (d.leased_until IS NULL OR d.leased_until < now())
    ORDER BY d.next_attempt_at
    LIMIT %(limit)s
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries w
SET leased_until = now() + make_interval(secs => %(lease_s)s),
    attempts = w.attempts + 1, last_attempt_at = now()
FROM due, webhook_endpoints e
WHERE w.id = due.id AND e.id = w.endpoint_id
RETURNING w.id, w.tenant_id, w.endpoint_id, w.event_id, w.event_type, e.url, e.secret, w.body,
          w.attempts
"""
_DELIVERED = """
UPDATE webhook_deliveries
SET state = 'delivered', finished_at = now(), leased_until = NULL,
    last_status = %(status)s, last_error = NULL
WHERE id = %(id)s AND state = 'pending'
"""
_GAVE_UP = """
UPDATE webhook_deliveries
SET state = 'failed', finished_at = now(), leased_until = NULL,
    last_status = %(status)s, last_error = %(error)s
WHERE id = %(id)s AND state = 'pending'
"""
_RETRY = """
UPDATE webhook_deliveries
SET next_attempt_at = now() + make_interval(secs => %(retry_s)s), leased_until = NULL,
    last_status = %(status)s, last_error = %(error)s
WHERE id = %(id)s AND state = 'pending'
"""
_PURGE = """
DELETE FROM webhook_deliveries WHERE id IN (
    SELECT id FROM webhook_deliveries
    WHERE state <> 'pending' AND finished_at < %(before)s
    ORDER BY finished_at
    LIMIT %(limit)s
)
"""

# Both sweeps look only at tenants with an endpoint subscribed to what they produce.
_OFFLINE_CANDIDATES = """
SELECT d.tenant_id, d.id AS device_id, d.name, d.groups, d.last_seen_at
FROM devices d JOIN tenants t ON t.id = d.tenant_id AND t.status = 'active'
WHERE d.status = 'approved'
  AND d.last_seen_at < %(before)s AND d.last_seen_at >= %(after)s
  AND NOT EXISTS (SELECT 1 FROM device_offline_notices n WHERE n.device_id = d.id)
  AND EXISTS (SELECT 1 FROM webhook_endpoints e
        WHERE e.tenant_id = d.tenant_id AND e.deleted_at IS NULL
          AND %(event)s = ANY (e.events))
ORDER BY d.last_seen_at
LIMIT %(limit)s
"""
_NOTE_OFFLINE = """
INSERT INTO device_offline_notices (device_id, tenant_id, last_seen_at)
SELECT n.device_id, %(tenant_id)s, n.last_seen_at
FROM unnest(%(ids)s::uuid[], %(seen)s::timestamptz[]) AS n (device_id, last_seen_at)
ON CONFLICT (device_id) DO NOTHING
RETURNING device_id
"""
_BACK_ONLINE = """
DELETE FROM device_offline_notices n USING devices d
WHERE n.device_id = ANY (%(ids)s::uuid[]) AND d.id = n.device_id
RETURNING n.tenant_id, n.device_id, n.last_seen_at, d.name, d.groups
"""
_UNCHECKED = """
SELECT em.tenant_id, em.id FROM emergencies em
WHERE em.ended_at IS NULL AND em.started_at < %(before)s AND em.started_at >= %(after)s
  AND NOT EXISTS (SELECT 1 FROM emergency_delivery_checks c WHERE c.emergency_id = em.id)
  AND EXISTS (SELECT 1 FROM webhook_endpoints e
        WHERE e.tenant_id = em.tenant_id AND e.deleted_at IS NULL
          AND %(event)s = ANY (e.events))
ORDER BY em.started_at
LIMIT %(limit)s
"""
_NOTE_CHECKED = """
INSERT INTO emergency_delivery_checks (emergency_id, tenant_id, undelivered)
VALUES (%(id)s, %(tenant_id)s, %(undelivered)s)
ON CONFLICT (emergency_id) DO NOTHING
RETURNING emergency_id
"""


class WebhookRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # -- endpoints -----------------------------------------------------------------------------

    async def create(
        self,
        *,
        endpoint_id: UUID,
        tenant_id: UUID,
        url: str,
        events: tuple[EventType, ...],
        description: str,
        secret: str,
        created_by: str,
    ) -> WebhookEndpoint:
        params = {
            "id": endpoint_id,
            "tenant_id": tenant_id,
            "url": url,
            "events": [e.value for e in events],
            "description": description,
            "secret": secret,
            "by": created_by,
        }
        row = await self._endpoint(_INSERT, params)
        assert row is not None
        return row

    async def count(self, tenant_id: UUID) -> int:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_COUNT, {"tenant_id": tenant_id})
        row = await cur.fetchone()
        assert row is not None
        return int(row["n"])

    async def get(self, tenant_id: UUID, endpoint_id: UUID) -> WebhookEndpoint | None:
        return await self._endpoint(_GET, {"tenant_id": tenant_id, "id": endpoint_id})

    async def page(self, tenant_id: UUID, page: PageRequest[ByCreation]) -> list[WebhookEndpoint]:
        query, params = _BY_CREATION.page(_PAGE, page.after)
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(query, {"tenant_id": tenant_id, "limit": page.fetch, **params})
        return [msgspec.convert(row, WebhookEndpoint) for row in await cur.fetchall()]

    async def delete(
        self, tenant_id: UUID, endpoint_id: UUID, *, deleted_by: str
    ) -> tuple[WebhookEndpoint, int] | None:
        params = {"tenant_id": tenant_id, "id": endpoint_id, "by": deleted_by}
        deleted = await self._endpoint(_DELETE, params)
        if deleted is None:
            return None
        cur = await self._conn.execute(_CANCEL, params)
        return deleted, cur.rowcount

    async def deliveries(
        self, tenant_id: UUID, endpoint_id: UUID, page: PageRequest[BySeq]
    ) -> list[WebhookDelivery]:
        query, params = _LOG_ORDER.page(_LOG, page.after)
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            query, {"tenant_id": tenant_id, "id": endpoint_id, "limit": page.fetch, **params}
        )
        return [msgspec.convert(row, WebhookDelivery) for row in await cur.fetchall()]

    # -- the outbox ----------------------------------------------------------------------------

    async def enqueue(self, tenant_id: UUID, events: Sequence[tuple[Event, str]]) -> int:
        if not events:
            return 0
        cur = await self._conn.execute(
            _ENQUEUE,
            {
                "tenant_id": tenant_id,
                "ids": [event.id for event, _ in events],
                "types": [event.type.value for event, _ in events],
                "bodies": [body for _, body in events],
            },
        )
        return cur.rowcount

    async def claim(self, *, limit: int, lease_s: float) -> list[DueDelivery]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_CLAIM, {"limit": limit, "lease_s": lease_s})
        rows = [msgspec.convert(row, DueDelivery) for row in await cur.fetchall()]
        return sorted(rows, key=lambda d: d.id)

    async def finish(self, delivery_id: int, outcome: Outcome, *, retry_in_s: float | None) -> None:
        error = None if outcome.error is None else short_error(outcome.error)
        params: dict[str, Any] = {"id": delivery_id, "status": outcome.status, "error": error}
        if outcome.delivered:
            await self._conn.execute(_DELIVERED, params)
        elif retry_in_s is None:
            await self._conn.execute(_GAVE_UP, params)
        else:
            await self._conn.execute(_RETRY, {**params, "retry_s": retry_in_s})

    async def purge(self, *, finished_before: datetime, limit: int) -> int:
        cur = await self._conn.execute(_PURGE, {"before": finished_before, "limit": limit})
        return cur.rowcount

    # -- what produces events without a request ------------------------------------------------

    async def offline_candidates(
        self, *, seen_before: datetime, seen_after: datetime, limit: int
    ) -> list[OfflineCandidate]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            _OFFLINE_CANDIDATES,
            {
                "before": seen_before,
                "after": seen_after,
                "limit": limit,
                "event": EventType.DEVICE_OFFLINE.value,
            },
        )
        return [msgspec.convert(row, OfflineCandidate) for row in await cur.fetchall()]

    async def note_offline(
        self, tenant_id: UUID, devices: Sequence[tuple[UUID, datetime]]
    ) -> set[UUID]:
        if not devices:
            return set()
        cur = await self._conn.execute(
            _NOTE_OFFLINE,
            {
                "tenant_id": tenant_id,
                "ids": [device_id for device_id, _ in devices],
                "seen": [seen for _, seen in devices],
            },
        )
        return {row[0] for row in await cur.fetchall()}

    async def back_online(
        self, device_ids: Sequence[UUID]
    ) -> list[tuple[UUID, UUID, datetime, str | None, tuple[str, ...]]]:
        if not device_ids:
            return []
        cur = await self._conn.execute(_BACK_ONLINE, {"ids": list(device_ids)})
        return [
            (tenant_id, device_id, since, name, tuple(groups))
            for tenant_id, device_id, since, name, groups in await cur.fetchall()
        ]

    async def unchecked_emergencies(
        self, *, started_before: datetime, started_after: datetime, limit: int
    ) -> list[tuple[UUID, UUID]]:
        cur = await self._conn.execute(
            _UNCHECKED,
            {
                "before": started_before,
                "after": started_after,
                "limit": limit,
                "event": EventType.EMERGENCY_DELIVERY_INCOMPLETE.value,
            },
        )
        return [(tenant_id, emergency_id) for tenant_id, emergency_id in await cur.fetchall()]

    async def note_checked(self, tenant_id: UUID, emergency_id: UUID, undelivered: int) -> bool:
        cur = await self._conn.execute(
            _NOTE_CHECKED,
            {"tenant_id": tenant_id, "id": emergency_id, "undelivered": undelivered},
        )
        return await cur.fetchone() is not None

    async def _endpoint(self, query: str, params: dict[str, Any]) -> WebhookEndpoint | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(query, params)
        row = await cur.fetchone()
        return None if row is None else msgspec.convert(row, WebhookEndpoint)
