"""SQL for integration credentials (sql/0080_integrations.sql)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from psycopg import errors, sql
from psycopg.rows import dict_row

from actors.domain.integrations import Integration, IntegrationBearer
from actors.domain.rbac import Role
from actors.errors import Conflict
from actors.pagination import ByName, PageRequest
from store.db import Connection
from store.keyset import Keyset

_INSERT = """
INSERT INTO integrations (id, tenant_id, name, roles, token_hash, token_hint, created_by)
VALUES (%(id)s, %(tenant_id)s, %(name)s, %(roles)s, %(hash)s, %(hint)s, %(created_by)s)
RETURNING id, tenant_id, name, roles, token_hint, created_by, created_at, last_used_at
"""
_GET = """
SELECT id, tenant_id, name, roles, token_hint, created_by, created_at, last_used_at
FROM integrations
WHERE tenant_id = %(tenant_id)s AND id = %(id)s AND revoked_at IS NULL
"""
_BY_NAME = Keyset("name", "id")
_PAGE = sql.SQL("""
SELECT id, tenant_id, name, roles, token_hint, created_by, created_at, last_used_at
FROM integrations
WHERE tenant_id = %(tenant_id)s AND revoked_at IS NULL{after}
ORDER BY {order_by}
LIMIT %(limit)s
""")
_REVOKE = """
UPDATE integrations SET revoked_at = now(), revoked_by = %(by)s
WHERE tenant_id = %(tenant_id)s AND id = %(id)s AND revoked_at IS NULL
RETURNING id, tenant_id, name, roles, token_hint, created_by, created_at, last_used_at
"""
# Runs as the table owner (SECURITY DEFINER): the one read that crosses scopes.
_BEARER = (
    "SELECT integration_id, tenant_id, name, roles, token_hash, live"
    " FROM auth_integration_bearer(%(hash)s)"
)


class IntegrationRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def create(
        self,
        *,
        integration_id: UUID,
        tenant_id: UUID,
        name: str,
        roles: tuple[Role, ...],
        token_hash: bytes,
        token_hint: str,
        created_by: str,
    ) -> Integration:
        params = {
            "id": integration_id,
            "tenant_id": tenant_id,
            "name": name,
            "roles": [r.value for r in roles],
            "hash": token_hash,
            "hint": token_hint,
            "created_by": created_by,
        }
        try:
            row = await self._one(_INSERT, params)
        except errors.UniqueViolation:
            raise Conflict(f"an integration named {name!r} exists already") from None
        assert row is not None
        return row

    async def get(self, tenant_id: UUID, integration_id: UUID) -> Integration | None:
        return await self._one(_GET, {"tenant_id": tenant_id, "id": integration_id})

    async def page(self, tenant_id: UUID, page: PageRequest[ByName]) -> list[Integration]:
        query, params = _BY_NAME.page(_PAGE, page.after)
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(query, {"tenant_id": tenant_id, "limit": page.fetch, **params})
        return [_integration(row) for row in await cur.fetchall()]

    async def revoke(
        self, tenant_id: UUID, integration_id: UUID, *, revoked_by: str
    ) -> Integration | None:
        return await self._one(
            _REVOKE, {"tenant_id": tenant_id, "id": integration_id, "by": revoked_by}
        )

    async def bearer(self, token_hash: bytes) -> IntegrationBearer | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_BEARER, {"hash": token_hash})
        row = await cur.fetchone()
        return None if row is None else msgspec.convert(row, IntegrationBearer)

    async def _one(self, query: str, params: dict[str, Any]) -> Integration | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(query, params)
        row = await cur.fetchone()
        return None if row is None else _integration(row)


def _integration(row: dict[str, Any]) -> Integration:
    return msgspec.convert(row, Integration)
