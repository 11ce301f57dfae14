"""SQL for single sign-on (sql/0170_sso.sql): providers, sign-ins in flight, identities.

A scope is a tenant id or ``None`` (the platform's provider); every query names it with
``IS NOT DISTINCT FROM`` so the platform scope, which sees every row, still touches only
its own.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from psycopg import errors
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from actors.domain.sso import PendingSignIn, SsoProvider
from actors.errors import Conflict
from store.db import Connection

_GET = """
SELECT id, tenant_id, issuer, client_id, client_secret_sealed, redirect_uri, scopes,
    allowed_domains, role_claim, role_mapping, default_roles, algorithms, password_login,
    enabled, created_at, updated_at, updated_by
FROM sso_providers WHERE tenant_id IS NOT DISTINCT FROM %(tenant_id)s
"""
_INSERT = """
INSERT INTO sso_providers (id, tenant_id, issuer, client_id, client_secret_sealed,
    redirect_uri, scopes, allowed_domains, role_claim, role_mapping, default_roles,
    algorithms, password_login, enabled, updated_by)
VALUES (%(id)s, %(tenant_id)s, %(issuer)s, %(client_id)s, %(secret)s, %(redirect_uri)s,
    %(scopes)s, %(allowed_domains)s, %(role_claim)s, %(role_mapping)s, %(default_roles)s,
    %(algorithms)s, %(password_login)s, %(enabled)s, %(updated_by)s)
RETURNING id, tenant_id, issuer, client_id, client_secret_sealed, redirect_uri, scopes,
    allowed_domains, role_claim, role_mapping, default_roles, algorithms, password_login,
    enabled, created_at, updated_at, updated_by
"""
_UPDATE = """
UPDATE sso_providers SET issuer = %(issuer)s, client_id = %(client_id)s,
    client_secret_sealed = %(secret)s, redirect_uri = %(redirect_uri)s, scopes = %(scopes)s,
    allowed_domains = %(allowed_domains)s, role_claim = %(role_claim)s,
    role_mapping = %(role_mapping)s, default_roles = %(default_roles)s,
    algorithms = %(algorithms)s, password_login = %(password_login)s, enabled = %(enabled)s,
    updated_by = %(updated_by)s, updated_at = now()
WHERE tenant_id IS NOT DISTINCT FROM %(tenant_id)s AND id = %(id)s
RETURNING id, tenant_id, issuer, client_id, client_secret_sealed, redirect_uri, scopes,
    allowed_domains, role_claim, role_mapping, default_roles, algorithms, password_login,
    enabled, created_at, updated_at, updated_by
"""
_DELETE_STATES = "DELETE FROM sso_login_states WHERE tenant_id IS NOT DISTINCT FROM %(tenant_id)s"
_DELETE_IDENTITIES = "DELETE FROM sso_identities WHERE tenant_id IS NOT DISTINCT FROM %(tenant_id)s"
_DELETE = """
DELETE FROM sso_providers WHERE tenant_id IS NOT DISTINCT FROM %(tenant_id)s
RETURNING id, tenant_id, issuer, client_id, client_secret_sealed, redirect_uri, scopes,
    allowed_domains, role_claim, role_mapping, default_roles, algorithms, password_login,
    enabled, created_at, updated_at, updated_by
"""
_SSO_ONLY_CHECK = """
SELECT NOT EXISTS (
    SELECT 1 FROM sso_providers
    WHERE tenant_id = %(tenant_id)s AND enabled AND NOT password_login
) AS allowed
"""
_PURGE_STATES = """
DELETE FROM sso_login_states
WHERE tenant_id IS NOT DISTINCT FROM %(tenant_id)s AND expires_at < now()
"""
_PURGE_EXPIRED = """
DELETE FROM sso_login_states WHERE state_hash IN (
    SELECT state_hash FROM sso_login_states WHERE expires_at < now()
    ORDER BY expires_at LIMIT %(limit)s
)
"""
_OPEN_STATE = """
INSERT INTO sso_login_states (state_hash, tenant_id, provider_id, nonce, code_verifier,
    expires_at)
VALUES (%(hash)s, %(tenant_id)s, %(provider_id)s, %(nonce)s, %(verifier)s,
    now() + make_interval(secs => %(ttl_s)s))
"""
_SPEND_STATE = """
DELETE FROM sso_login_states
WHERE state_hash = %(hash)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s
RETURNING provider_id, nonce, code_verifier, expires_at > now() AS live
"""
_IDENTITY = """
UPDATE sso_identities SET last_login_at = now()
WHERE tenant_id IS NOT DISTINCT FROM %(tenant_id)s AND provider_id = %(provider_id)s
  AND issuer = %(issuer)s AND subject = %(subject)s
RETURNING user_id
"""
_LINK = """
INSERT INTO sso_identities (user_id, tenant_id, provider_id, issuer, subject)
VALUES (%(user_id)s, %(tenant_id)s, %(provider_id)s, %(issuer)s, %(subject)s)
ON CONFLICT (user_id) DO NOTHING
"""


class SsoRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def get(self, tenant_id: UUID | None, *, for_update: bool = False) -> SsoProvider | None:
        query = _GET + (" FOR UPDATE" if for_update else "")
        return await self._one(query, {"tenant_id": tenant_id})

    async def save(self, provider: SsoProvider, *, create: bool) -> SsoProvider:
        params = {
            "id": provider.id,
            "tenant_id": provider.tenant_id,
            "issuer": provider.issuer,
            "client_id": provider.client_id,
            "secret": provider.client_secret_sealed,
            "redirect_uri": provider.redirect_uri,
            "scopes": list(provider.scopes),
            "allowed_domains": list(provider.allowed_domains),
            "role_claim": provider.role_claim,
            "role_mapping": Jsonb(msgspec.to_builtins(provider.role_mapping)),
            "default_roles": [r.value for r in provider.default_roles],
            "algorithms": list(provider.algorithms),
            "password_login": provider.password_login,
            "enabled": provider.enabled,
            "updated_by": provider.updated_by,
        }
        try:
            saved = await self._one(_INSERT if create else _UPDATE, params)
        except errors.UniqueViolation:
            raise Conflict("single sign-on was configured meanwhile; read it again") from None
        if saved is None:
            raise Conflict("single sign-on was removed meanwhile; read it again")
        return saved

    async def delete(self, tenant_id: UUID | None) -> SsoProvider | None:
        scope = {"tenant_id": tenant_id}
        await self._conn.execute(_DELETE_STATES, scope)
        await self._conn.execute(_DELETE_IDENTITIES, scope)
        return await self._one(_DELETE, scope)

    async def password_login_allowed(self, tenant_id: UUID) -> bool:
        cur = await self._conn.execute(_SSO_ONLY_CHECK, {"tenant_id": tenant_id})
        row = await cur.fetchone()
        assert row is not None
        return bool(row[0])

    async def open_sign_in(
        self,
        tenant_id: UUID | None,
        *,
        provider_id: UUID,
        state_hash: bytes,
        nonce: str,
        code_verifier: str,
        ttl_s: int,
    ) -> None:
        await self._conn.execute(_PURGE_STATES, {"tenant_id": tenant_id})
        await self._conn.execute(
            _OPEN_STATE,
            {
                "hash": state_hash,
                "tenant_id": tenant_id,
                "provider_id": provider_id,
                "nonce": nonce,
                "verifier": code_verifier,
                "ttl_s": ttl_s,
            },
        )

    async def purge_expired_sign_ins(self, *, limit: int) -> int:
        cur = await self._conn.execute(_PURGE_EXPIRED, {"limit": limit})
        return cur.rowcount

    async def spend_sign_in(
        self, tenant_id: UUID | None, state_hash: bytes
    ) -> PendingSignIn | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_SPEND_STATE, {"hash": state_hash, "tenant_id": tenant_id})
        row = await cur.fetchone()
        if row is None or not row.pop("live"):
            return None  # an expired state is spent too: it never works later
        return msgspec.convert(row, PendingSignIn)

    async def identity(
        self, tenant_id: UUID | None, provider_id: UUID, issuer: str, subject: str
    ) -> UUID | None:
        cur = await self._conn.execute(
            _IDENTITY,
            {
                "tenant_id": tenant_id,
                "provider_id": provider_id,
                "issuer": issuer,
                "subject": subject,
            },
        )
        row = await cur.fetchone()
        return None if row is None else UUID(str(row[0]))

    async def link(
        self,
        tenant_id: UUID | None,
        *,
        user_id: UUID,
        provider_id: UUID,
        issuer: str,
        subject: str,
    ) -> bool:
        try:
            cur = await self._conn.execute(
                _LINK,
                {
                    "user_id": user_id,
                    "tenant_id": tenant_id,
                    "provider_id": provider_id,
                    "issuer": issuer,
                    "subject": subject,
                },
            )
        except errors.UniqueViolation:
            # The subject is linked to another user: created by a concurrent first sign-in.
            raise Conflict("this identity was linked meanwhile; sign in again") from None
        return cur.rowcount == 1

    async def _one(self, query: str, params: dict[str, Any]) -> SsoProvider | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(query, params)
        row = await cur.fetchone()
        if row is None:
            return None
        if row["client_secret_sealed"] is not None:
            row["client_secret_sealed"] = bytes(row["client_secret_sealed"])
        return msgspec.convert(row, SsoProvider)
