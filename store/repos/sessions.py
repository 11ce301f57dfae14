"""SQL for login sessions: refresh-token families and their (hashed) tokens."""

from __future__ import annotations

from uuid import UUID

import msgspec
from psycopg.rows import dict_row

from actors.domain.login_sessions import (
    RefreshTokenOwner,
    RefreshTokenState,
    RevokeReason,
    SessionState,
)
from actors.domain.rbac import Role
from store.db import Connection

_OPEN = """
WITH family AS (
    INSERT INTO refresh_families (user_id, tenant_id, expires_at, source_ip, mfa_at_provider)
    VALUES (%(user_id)s, %(tenant_id)s, now() + make_interval(secs => %(family_ttl)s),
            %(source_ip)s, %(mfa_at_provider)s)
    RETURNING id, tenant_id, expires_at
)
INSERT INTO refresh_tokens (family_id, tenant_id, token_hash, expires_at)
SELECT id, tenant_id, %(hash)s, least(now() + make_interval(secs => %(token_ttl)s), expires_at)
FROM family
RETURNING family_id
"""
# Runs as the table owner (SECURITY DEFINER): the only read that crosses scopes.
_FIND = "SELECT token_id, family_id, user_id, tenant_id FROM auth_refresh_token_owner(%(hash)s)"
_LOCK = """
SELECT t.id AS token_id, t.family_id, f.user_id, t.tenant_id,
       t.used_at IS NOT NULL AS spent,
       coalesce(t.used_at > now() - make_interval(secs => %(grace)s), false)
           AS spent_within_grace,
       t.expires_at <= now() AS expired,
       f.revoked_at IS NULL AND f.expires_at > now() AS family_live,
       u.disabled_at IS NULL AND (u.tenant_id IS NULL OR ten.status = 'active')
           AS account_active
FROM refresh_tokens t
JOIN refresh_families f ON f.id = t.family_id
JOIN users u ON u.id = f.user_id
LEFT JOIN tenants ten ON ten.id = u.tenant_id
WHERE t.id = %(token_id)s AND t.tenant_id IS NOT DISTINCT FROM %(tenant_id)s
FOR UPDATE OF t, f
"""
_ROTATE = """
WITH spent AS (
    UPDATE refresh_tokens SET used_at = now()
    WHERE id = %(token_id)s AND family_id = %(family_id)s
      AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s AND used_at IS NULL
    RETURNING family_id, tenant_id
)
INSERT INTO refresh_tokens (family_id, tenant_id, token_hash, expires_at)
SELECT s.family_id, s.tenant_id, %(hash)s,
       least(now() + make_interval(secs => %(ttl)s), f.expires_at)
FROM spent s JOIN refresh_families f ON f.id = s.family_id
"""
# A second successor of a token spent moments ago (two tabs refreshing at once).
_SIBLING = """
INSERT INTO refresh_tokens (family_id, tenant_id, token_hash, expires_at)
SELECT f.id, f.tenant_id, %(hash)s, least(now() + make_interval(secs => %(ttl)s), f.expires_at)
FROM refresh_families f
WHERE f.id = %(family_id)s AND f.tenant_id IS NOT DISTINCT FROM %(tenant_id)s
  AND f.revoked_at IS NULL
"""
_REVOKE_FAMILY = """
UPDATE refresh_families SET revoked_at = now(), revoked_reason = %(reason)s
WHERE id = %(id)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s AND revoked_at IS NULL
"""
_REVOKE_USER = """
UPDATE refresh_families SET revoked_at = now(), revoked_reason = %(reason)s
WHERE user_id = %(user_id)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s
  AND revoked_at IS NULL AND id IS DISTINCT FROM %(keep)s
"""
_REVOKE_TENANT = """
UPDATE refresh_families SET revoked_at = now(), revoked_reason = %(reason)s
WHERE tenant_id = %(tenant_id)s AND revoked_at IS NULL
"""
_STATE = """
SELECT u.email, u.roles,
       u.disabled_at IS NULL AND f.revoked_at IS NULL AND f.expires_at > now()
           AND (u.tenant_id IS NULL OR t.status = 'active') AS live,
       u.password_must_change AS password_change_required,
       u.roles && (%(mfa_roles)s::text[] || coalesce(p.required_roles, '{}'))
           AND m.confirmed_at IS NULL AND NOT f.mfa_at_provider AS mfa_enrolment_required
FROM users u
JOIN refresh_families f ON f.id = %(family_id)s AND f.user_id = u.id
LEFT JOIN tenants t ON t.id = u.tenant_id
LEFT JOIN tenant_mfa_policies p ON p.tenant_id = u.tenant_id
LEFT JOIN user_totp m ON m.user_id = u.id
WHERE u.id = %(user_id)s AND u.tenant_id IS NOT DISTINCT FROM %(tenant_id)s
"""
_PURGE_EXPIRED = """
DELETE FROM refresh_tokens t USING refresh_families f
WHERE t.family_id = f.id AND f.user_id = %(user_id)s
  AND t.tenant_id IS NOT DISTINCT FROM %(tenant_id)s AND t.expires_at < now()
"""


class SessionRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def open(
        self,
        *,
        tenant_id: UUID | None,
        user_id: UUID,
        token_hash: bytes,
        token_ttl_s: int,
        family_ttl_s: int,
        source_ip: str | None,
        mfa_at_provider: bool = False,
    ) -> UUID:
        cur = await self._conn.execute(
            _OPEN,
            {
                "user_id": user_id,
                "tenant_id": tenant_id,
                "hash": token_hash,
                "token_ttl": token_ttl_s,
                "family_ttl": family_ttl_s,
                "source_ip": source_ip,
                "mfa_at_provider": mfa_at_provider,
            },
        )
        row = await cur.fetchone()
        assert row is not None
        family_id: UUID = row[0]
        return family_id

    async def find_token(self, token_hash: bytes) -> RefreshTokenOwner | None:
        cur = await self._conn.execute(_FIND, {"hash": token_hash})
        row = await cur.fetchone()
        return None if row is None else RefreshTokenOwner(*row)

    async def lock_token(
        self, tenant_id: UUID | None, token_id: UUID, *, grace_s: int
    ) -> RefreshTokenState | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_LOCK, {"token_id": token_id, "tenant_id": tenant_id, "grace": grace_s})
        row = await cur.fetchone()
        return None if row is None else msgspec.convert(row, RefreshTokenState)

    async def rotate(
        self,
        tenant_id: UUID | None,
        *,
        token_id: UUID,
        family_id: UUID,
        new_hash: bytes,
        ttl_s: int,
    ) -> None:
        cur = await self._conn.execute(
            _ROTATE,
            {
                "token_id": token_id,
                "family_id": family_id,
                "tenant_id": tenant_id,
                "hash": new_hash,
                "ttl": ttl_s,
            },
        )
        if cur.rowcount != 1:
            raise RuntimeError("rotate() needs a token locked and found unspent by lock_token()")

    async def issue_sibling(
        self, tenant_id: UUID | None, *, family_id: UUID, new_hash: bytes, ttl_s: int
    ) -> None:
        cur = await self._conn.execute(
            _SIBLING,
            {"family_id": family_id, "tenant_id": tenant_id, "hash": new_hash, "ttl": ttl_s},
        )
        if cur.rowcount != 1:
            raise RuntimeError("issue_sibling() needs a live family locked by lock_token()")

    async def revoke_family(
        self, tenant_id: UUID | None, family_id: UUID, reason: RevokeReason
    ) -> bool:
        cur = await self._conn.execute(
            _REVOKE_FAMILY, {"id": family_id, "tenant_id": tenant_id, "reason": reason}
        )
        return cur.rowcount > 0

    async def revoke_user(
        self,
        tenant_id: UUID | None,
        user_id: UUID,
        reason: RevokeReason,
        *,
        keep: UUID | None = None,
    ) -> int:
        cur = await self._conn.execute(
            _REVOKE_USER,
            {"user_id": user_id, "tenant_id": tenant_id, "reason": reason, "keep": keep},
        )
        return cur.rowcount

    async def revoke_tenant(self, tenant_id: UUID, reason: RevokeReason) -> int:
        cur = await self._conn.execute(_REVOKE_TENANT, {"tenant_id": tenant_id, "reason": reason})
        return cur.rowcount

    async def state(
        self,
        tenant_id: UUID | None,
        user_id: UUID,
        family_id: UUID,
        *,
        mfa_roles: tuple[Role, ...] = (),
    ) -> SessionState | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            _STATE,
            {
                "user_id": user_id,
                "tenant_id": tenant_id,
                "family_id": family_id,
                "mfa_roles": [r.value for r in mfa_roles],
            },
        )
        row = await cur.fetchone()
        return None if row is None else msgspec.convert(row, SessionState)

    async def purge_expired(self, tenant_id: UUID | None, user_id: UUID) -> int:
        cur = await self._conn.execute(_PURGE_EXPIRED, {"user_id": user_id, "tenant_id": tenant_id})
        return cur.rowcount
