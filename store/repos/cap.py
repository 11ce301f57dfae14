"""SQL for the CAP ingest: received messages (the idempotency key and alert threads) and
the tenant's area mapping (sql/0130_cap_alerts.sql)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import msgspec
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from actors.domain.cap import AreaMapping, CapAlert, CapAreaSettings, CapRef
from actors.domain.emergencies import Emergency
from actors.ports.cap import CapThread, Recorded
from store.db import Connection
from store.repos.emergencies import E_COLUMNS, emergency_of

#: First key of the per-thread advisory lock (the second is the thread id's hash); two
#: threads colliding on the hash merely share a lock.
_THREAD_LOCK_SPACE = 0x43415054  # "CAPT"

_RECORD = """
INSERT INTO cap_alerts (tenant_id, sender, identifier, sent, status, msg_type, thread_id,
                        emergency_id, received_by)
VALUES (%(tenant_id)s, %(sender)s, %(identifier)s, %(sent)s, %(status)s, %(msg_type)s,
        %(thread_id)s, %(emergency_id)s, %(received_by)s)
ON CONFLICT (tenant_id, sender, identifier) DO NOTHING
RETURNING thread_id
"""
_EARLIER = """
SELECT emergency_id FROM cap_alerts
WHERE tenant_id = %(tenant_id)s AND sender = %(sender)s AND identifier = %(identifier)s
"""

_THREAD_OF = """
SELECT c.thread_id FROM cap_alerts c
JOIN unnest(%(senders)s::text[], %(identifiers)s::text[]) AS r(sender, identifier)
  ON c.sender = r.sender AND c.identifier = r.identifier
WHERE c.tenant_id = %(tenant_id)s
ORDER BY c.received_at DESC
LIMIT 1
"""
_LOCK_THREAD = "SELECT pg_advisory_xact_lock(%(space)s, hashtext(%(thread_id)s::text))"
# A new statement after the lock: it sees what the thread's previous holder committed.
_SHOWING = sql.SQL("""
SELECT {columns} FROM emergencies e
WHERE e.tenant_id = %(tenant_id)s AND e.ended_at IS NULL AND e.id IN (
    SELECT emergency_id FROM cap_alerts
    WHERE tenant_id = %(tenant_id)s AND thread_id = %(thread_id)s
)
ORDER BY e.seq DESC
LIMIT 1
FOR UPDATE OF e
""").format(columns=E_COLUMNS)
_LATEST = sql.SQL("""
SELECT {columns} FROM emergencies e
WHERE e.tenant_id = %(tenant_id)s AND e.id IN (
    SELECT emergency_id FROM cap_alerts
    WHERE tenant_id = %(tenant_id)s AND thread_id = %(thread_id)s
)
ORDER BY e.seq DESC
LIMIT 1
""").format(columns=E_COLUMNS)

_SETTINGS = "SELECT areas, unmatched FROM cap_settings WHERE tenant_id = %(tenant_id)s"
_SAVE_SETTINGS = """
INSERT INTO cap_settings (tenant_id, areas, unmatched, updated_by)
VALUES (%(tenant_id)s, %(areas)s, %(unmatched)s, %(updated_by)s)
ON CONFLICT (tenant_id) DO UPDATE
SET areas = EXCLUDED.areas, unmatched = EXCLUDED.unmatched,
    updated_by = EXCLUDED.updated_by, updated_at = now()
"""

_encoder = msgspec.json.Encoder()


class CapRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def record(
        self,
        tenant_id: UUID,
        alert: CapAlert,
        *,
        thread_id: UUID,
        emergency_id: UUID | None,
        received_by: str,
    ) -> Recorded | None:
        key = {"tenant_id": tenant_id, "sender": alert.sender, "identifier": alert.identifier}
        cur = await self._conn.execute(
            _RECORD,
            {
                **key,
                "sent": alert.sent,
                "status": alert.status,
                "msg_type": alert.msg_type,
                "thread_id": thread_id,
                "emergency_id": emergency_id,
                "received_by": received_by,
            },
        )
        if await cur.fetchone() is not None:
            return None
        earlier = await self.earlier(tenant_id, alert)
        assert earlier is not None, "a conflicting row is committed before DO NOTHING answers"
        return earlier

    async def earlier(self, tenant_id: UUID, alert: CapAlert) -> Recorded | None:
        cur = await self._conn.execute(
            _EARLIER,
            {"tenant_id": tenant_id, "sender": alert.sender, "identifier": alert.identifier},
        )
        row = await cur.fetchone()
        return None if row is None else Recorded(emergency_id=row[0])

    async def thread(self, tenant_id: UUID, refs: Sequence[CapRef]) -> CapThread | None:
        cur = await self._conn.execute(
            _THREAD_OF,
            {
                "tenant_id": tenant_id,
                "senders": [r.sender for r in refs],
                "identifiers": [r.identifier for r in refs],
            },
        )
        row = await cur.fetchone()
        if row is None:
            return None
        thread_id: UUID = row[0]
        params = {"tenant_id": tenant_id, "thread_id": thread_id}
        await self._conn.execute(_LOCK_THREAD, {**params, "space": _THREAD_LOCK_SPACE})
        showing = await self._one(_SHOWING, params)
        latest = showing or await self._one(_LATEST, params)
        return CapThread(thread_id=thread_id, showing=showing, latest=latest)

    async def _one(self, query: sql.Composed, params: dict[str, Any]) -> Emergency | None:
        dict_cur = self._conn.cursor(row_factory=dict_row)
        await dict_cur.execute(query, params)
        found = await dict_cur.fetchone()
        return None if found is None else emergency_of(found)

    async def settings(self, tenant_id: UUID) -> CapAreaSettings:
        cur = await self._conn.execute(_SETTINGS, {"tenant_id": tenant_id})
        row = await cur.fetchone()
        if row is None:
            return CapAreaSettings()
        areas, unmatched = row
        return CapAreaSettings(areas=msgspec.convert(areas, list[AreaMapping]), unmatched=unmatched)

    async def save_settings(
        self, tenant_id: UUID, settings: CapAreaSettings, *, updated_by: str
    ) -> None:
        await self._conn.execute(
            _SAVE_SETTINGS,
            {
                "tenant_id": tenant_id,
                "areas": Jsonb(msgspec.to_builtins(settings.areas)),
                "unmatched": settings.unmatched,
                "updated_by": updated_by,
            },
        )
