"""SQL for tenants (a platform-level table: tenant scope sees only its own row)."""

from __future__ import annotations

import builtins
from typing import Any
from uuid import UUID

import msgspec
from psycopg import errors, sql
from psycopg.rows import dict_row

from actors.domain.tenants import Tenant, TenantStatus
from actors.errors import Conflict, NotFound
from actors.pagination import ByCreation, PageRequest
from store.db import Connection
from store.keyset import Keyset

_INSERT = """
INSERT INTO tenants (name, slug) VALUES (%(name)s, %(slug)s)
RETURNING id, name, slug, status, created_at
"""
_GET = "SELECT id, name, slug, status, created_at FROM tenants WHERE id = %(id)s"
_GET_FOR_UPDATE = _GET + " FOR UPDATE"
_LIST = "SELECT id, name, slug, status, created_at FROM tenants ORDER BY created_at, id"
_BY_CREATION = Keyset("created_at", "id")
_PAGE = sql.SQL("""
SELECT id, name, slug, status, created_at FROM tenants WHERE true{after}
ORDER BY {order_by}
LIMIT %(limit)s
""")
_UPDATE = """
UPDATE tenants
SET name = coalesce(%(name)s::text, name), status = coalesce(%(status)s::text, status),
    updated_at = now()
WHERE id = %(id)s
RETURNING id, name, slug, status, created_at
"""


def _tenant(row: dict[str, Any]) -> Tenant:
    return msgspec.convert(row, Tenant)


class TenantRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def create(self, *, name: str, slug: str) -> Tenant:
        cur = self._conn.cursor(row_factory=dict_row)
        try:
            await cur.execute(_INSERT, {"name": name, "slug": slug})
        except errors.UniqueViolation:
            raise Conflict(f"the slug {slug!r} is taken") from None
        row = await cur.fetchone()
        assert row is not None
        return _tenant(row)

    async def get(self, tenant_id: UUID, *, for_update: bool = False) -> Tenant | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_GET_FOR_UPDATE if for_update else _GET, {"id": tenant_id})
        row = await cur.fetchone()
        return None if row is None else _tenant(row)

    async def list(self) -> list[Tenant]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_LIST)
        return [_tenant(row) for row in await cur.fetchall()]

    async def page(self, page: PageRequest[ByCreation]) -> builtins.list[Tenant]:
        query, params = _BY_CREATION.page(_PAGE, page.after)
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(query, {"limit": page.fetch, **params})
        return [_tenant(row) for row in await cur.fetchall()]

    async def update(
        self, tenant_id: UUID, *, name: str | None = None, status: TenantStatus | None = None
    ) -> Tenant:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_UPDATE, {"id": tenant_id, "name": name, "status": status})
        row = await cur.fetchone()
        if row is None:
            raise NotFound("no such tenant")
        return _tenant(row)
