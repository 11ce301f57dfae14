"""SQL for admin users (tenant-owned; ``tenant_id`` NULL for platform users)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from psycopg import errors, sql
from psycopg.rows import dict_row

from actors.domain.login_sessions import LoginCandidate
from actors.domain.rbac import Role
from actors.domain.users import PasswordState, User
from actors.errors import Conflict, NotFound
from actors.pagination import ByEmail, PageRequest
from store.db import Connection
from store.keyset import Keyset

_INSERT = """
INSERT INTO users (tenant_id, email, password_hash, roles)
VALUES (%(tenant_id)s, %(email)s, %(password_hash)s, %(roles)s)
RETURNING id, email, roles, tenant_id, disabled_at IS NOT NULL AS disabled, created_at
"""
_GET = """
SELECT id, email, roles, tenant_id, disabled_at IS NOT NULL AS disabled, created_at
FROM users WHERE id = %(id)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s
"""
_GET_FOR_UPDATE = _GET + " FOR UPDATE"
_BY_EMAIL = Keyset("email", "id")
_PAGE = sql.SQL("""
SELECT id, email, roles, tenant_id, disabled_at IS NOT NULL AS disabled, created_at
FROM users WHERE {owner}{after}
ORDER BY {order_by}
LIMIT %(limit)s
""")
# Two forms (not IS NOT DISTINCT FROM) so that users_tenant_idx serves both.
_TENANT_USERS = sql.SQL("tenant_id = %(tenant_id)s")
_PLATFORM_USERS = sql.SQL("tenant_id IS NULL")
_UPDATE = """
UPDATE users
SET roles = coalesce(%(roles)s::text[], roles),
    disabled_at = CASE
        WHEN %(disabled)s::boolean IS NULL THEN disabled_at
        WHEN %(disabled)s::boolean THEN coalesce(disabled_at, now())
        ELSE NULL
    END,
    updated_at = now()
WHERE id = %(id)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s
RETURNING id, email, roles, tenant_id, disabled_at IS NOT NULL AS disabled, created_at
"""
_REHASH = """
UPDATE users SET password_hash = %(hash)s, updated_at = now()
WHERE id = %(id)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s
"""
_NEW_HASH = """
UPDATE users
SET password_hash = %(hash)s,
    password_must_change = %(temporary_for)s::integer IS NOT NULL,
    password_expires_at = now() + make_interval(secs => %(temporary_for)s::integer),
    updated_at = now()
WHERE id = %(id)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s
RETURNING password_expires_at
"""
_HASH_STATE = """
SELECT password_hash, password_must_change AS must_change,
       coalesce(password_expires_at <= now(), false) AS expired
FROM users WHERE id = %(id)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s
"""
_LOGIN_CANDIDATE = "SELECT user_id, tenant_id, password_hash FROM auth_login_candidate(%(email)s)"
_PLATFORM_ADMIN_EXISTS = """
SELECT EXISTS (
    SELECT 1 FROM users
    WHERE tenant_id IS NULL AND 'platform_admin' = ANY (roles) AND disabled_at IS NULL
)
"""


def _user(row: dict[str, Any]) -> User:
    return msgspec.convert(row, User)


class UserRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def create(
        self,
        *,
        tenant_id: UUID | None,
        email: str,
        password_hash: str,
        roles: tuple[Role, ...],
    ) -> User:
        cur = self._conn.cursor(row_factory=dict_row)
        params = {
            "tenant_id": tenant_id,
            "email": email,
            "password_hash": password_hash,
            "roles": [r.value for r in roles],
        }
        try:
            await cur.execute(_INSERT, params)
        except errors.UniqueViolation:
            raise Conflict("a user with this email exists") from None
        row = await cur.fetchone()
        assert row is not None
        return _user(row)

    async def get(
        self, tenant_id: UUID | None, user_id: UUID, *, for_update: bool = False
    ) -> User | None:
        cur = self._conn.cursor(row_factory=dict_row)
        query = _GET_FOR_UPDATE if for_update else _GET
        await cur.execute(query, {"id": user_id, "tenant_id": tenant_id})
        row = await cur.fetchone()
        return None if row is None else _user(row)

    async def page(self, tenant_id: UUID | None, page: PageRequest[ByEmail]) -> list[User]:
        owner = _PLATFORM_USERS if tenant_id is None else _TENANT_USERS
        query, params = _BY_EMAIL.page(_PAGE, page.after, owner=owner)
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(query, {"tenant_id": tenant_id, "limit": page.fetch, **params})
        return [_user(row) for row in await cur.fetchall()]

    async def update(
        self,
        tenant_id: UUID | None,
        user_id: UUID,
        *,
        roles: tuple[Role, ...] | None = None,
        disabled: bool | None = None,
    ) -> User:
        cur = self._conn.cursor(row_factory=dict_row)
        params = {
            "id": user_id,
            "tenant_id": tenant_id,
            "roles": None if roles is None else [r.value for r in roles],
            "disabled": disabled,
        }
        await cur.execute(_UPDATE, params)
        row = await cur.fetchone()
        if row is None:
            raise NotFound("no such user")
        return _user(row)

    async def set_password_hash(
        self, tenant_id: UUID | None, user_id: UUID, password_hash: str
    ) -> None:
        await self._conn.execute(
            _REHASH, {"id": user_id, "tenant_id": tenant_id, "hash": password_hash}
        )

    async def set_password(
        self,
        tenant_id: UUID | None,
        user_id: UUID,
        password_hash: str,
        *,
        temporary_for_s: int | None = None,
    ) -> datetime | None:
        cur = await self._conn.execute(
            _NEW_HASH,
            {
                "id": user_id,
                "tenant_id": tenant_id,
                "hash": password_hash,
                "temporary_for": temporary_for_s,
            },
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound("no such user")
        expires_at: datetime | None = row[0]
        return expires_at

    async def password_state(self, tenant_id: UUID | None, user_id: UUID) -> PasswordState | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_HASH_STATE, {"id": user_id, "tenant_id": tenant_id})
        row = await cur.fetchone()
        return None if row is None else msgspec.convert(row, PasswordState)

    async def login_candidate(self, email: str) -> LoginCandidate | None:
        cur = await self._conn.execute(_LOGIN_CANDIDATE, {"email": email})
        row = await cur.fetchone()
        return None if row is None else LoginCandidate(*row)

    async def platform_admin_exists(self) -> bool:
        cur = await self._conn.execute(_PLATFORM_ADMIN_EXISTS)
        row = await cur.fetchone()
        return bool(row and row[0])
