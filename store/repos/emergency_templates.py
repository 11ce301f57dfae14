"""SQL for emergency templates (sql/0140_emergency_templates.sql)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import errors, sql
from psycopg.rows import dict_row

from actors.domain.emergency_templates import EmergencyTemplate, TemplateState
from actors.domain.targets import Target
from actors.errors import Conflict
from actors.pagination import ByName, PageRequest
from actors.protocol import EmergencyMode, Severity
from store.db import Connection
from store.keyset import Keyset
from store.repos.emergencies import target_of_row, target_params

_COLUMNS = sql.SQL("""id, tenant_id, name, message, severity, target_all, target_groups,
    target_devices, expires_in_s, mode, state, created_by, created_at, approved_by,
    approved_at, archived_by, archived_at""")

# A lock space of its own (content's quota lock is 0x5160_0001).
_QUOTA_LOCK_SPACE = 0x5160_0140
_LOCK_QUOTA = "SELECT pg_advisory_xact_lock(%(space)s, hashtext(%(tenant_id)s::text))"
_COUNT_KEPT = """
SELECT count(*) FROM emergency_templates
WHERE tenant_id = %(tenant_id)s AND state <> 'archived'
"""
_INSERT = sql.SQL("""
INSERT INTO emergency_templates (id, tenant_id, name, message, severity, target_all,
                                 target_groups, target_devices, expires_in_s, mode, created_by)
VALUES (%(id)s, %(tenant_id)s, %(name)s, %(message)s, %(severity)s, %(everyone)s,
        %(groups)s::text[], %(devices)s::uuid[], %(expires_in_s)s, %(mode)s, %(created_by)s)
RETURNING {columns}
""").format(columns=_COLUMNS)
_GET = sql.SQL("""
SELECT {columns} FROM emergency_templates WHERE tenant_id = %(tenant_id)s AND id = %(id)s
""").format(columns=_COLUMNS)
_GET_LOCKED = _GET + sql.SQL("FOR UPDATE\n")
_APPROVE = sql.SQL("""
UPDATE emergency_templates
SET state = 'approved', approved_by = %(by)s, approved_at = now()
WHERE tenant_id = %(tenant_id)s AND id = %(id)s AND state = 'pending_approval'
RETURNING {columns}
""").format(columns=_COLUMNS)
_ARCHIVE = sql.SQL("""
UPDATE emergency_templates
SET state = 'archived', archived_by = %(by)s, archived_at = now()
WHERE tenant_id = %(tenant_id)s AND id = %(id)s AND state <> 'archived'
RETURNING {columns}
""").format(columns=_COLUMNS)
_BY_NAME = Keyset("name", "id")
_PAGE = sql.SQL("""
SELECT {columns} FROM emergency_templates
WHERE tenant_id = %(tenant_id)s AND (%(state)s::text IS NULL OR state = %(state)s){after}
ORDER BY {order_by}
LIMIT %(limit)s
""")


def _template(row: dict[str, Any]) -> EmergencyTemplate:
    target = target_of_row(row)
    return EmergencyTemplate(**row, target=target)


class EmergencyTemplateRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def lock_quota(self, tenant_id: UUID) -> None:
        await self._conn.execute(_LOCK_QUOTA, {"space": _QUOTA_LOCK_SPACE, "tenant_id": tenant_id})

    async def count_kept(self, tenant_id: UUID) -> int:
        cur = await self._conn.execute(_COUNT_KEPT, {"tenant_id": tenant_id})
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def create(
        self,
        *,
        template_id: UUID,
        tenant_id: UUID,
        name: str,
        message: str,
        severity: Severity,
        target: Target,
        expires_in_s: int | None,
        mode: EmergencyMode,
        created_by: str,
    ) -> EmergencyTemplate:
        params = {
            "id": template_id,
            "tenant_id": tenant_id,
            "name": name,
            "message": message,
            "severity": severity,
            **target_params(target),
            "expires_in_s": expires_in_s,
            "mode": mode,
            "created_by": created_by,
        }
        try:
            found = await self._one(_INSERT, params)
        except errors.UniqueViolation:
            raise Conflict(f"a template named {name!r} exists already") from None
        assert found is not None
        return found

    async def get(
        self, tenant_id: UUID, template_id: UUID, *, lock: bool = False
    ) -> EmergencyTemplate | None:
        return await self._one(
            _GET_LOCKED if lock else _GET, {"tenant_id": tenant_id, "id": template_id}
        )

    async def approve(
        self, tenant_id: UUID, template_id: UUID, *, approved_by: str
    ) -> EmergencyTemplate:
        return await self._decided(_APPROVE, tenant_id, template_id, approved_by)

    async def archive(
        self, tenant_id: UUID, template_id: UUID, *, archived_by: str
    ) -> EmergencyTemplate:
        return await self._decided(_ARCHIVE, tenant_id, template_id, archived_by)

    async def page(
        self, tenant_id: UUID, page: PageRequest[ByName], *, state: TemplateState | None
    ) -> list[EmergencyTemplate]:
        query, params = _BY_NAME.page(_PAGE, page.after, columns=_COLUMNS)
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            query, {"tenant_id": tenant_id, "state": state, "limit": page.fetch, **params}
        )
        return [_template(row) for row in await cur.fetchall()]

    async def _decided(
        self, query: sql.Composed, tenant_id: UUID, template_id: UUID, by: str
    ) -> EmergencyTemplate:
        found = await self._one(query, {"tenant_id": tenant_id, "id": template_id, "by": by})
        if found is None:  # the caller holds the row and checked its state
            raise RuntimeError(f"emergency template {template_id} changed under its lock")
        return found

    async def _one(self, query: sql.Composed, params: dict[str, Any]) -> EmergencyTemplate | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(query, params)
        row = await cur.fetchone()
        return None if row is None else _template(row)
