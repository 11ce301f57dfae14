"""SQL for second factors: TOTP enrolments, recovery codes, login challenges, and the
tenants' MFA policies (all tenant-owned; ``tenant_id`` NULL for platform users)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import msgspec
from psycopg.rows import dict_row

from actors.domain.mfa import ChallengeOwner, ChallengeState, TotpRecord
from actors.domain.rbac import Role
from store.db import Connection

_TOTP = """
SELECT user_id, tenant_id, secret, confirmed_at IS NOT NULL AS confirmed, last_step, created_at
FROM user_totp WHERE user_id = %(user_id)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s
"""
_TOTP_FOR_UPDATE = _TOTP + " FOR UPDATE"
# A new enrolment replaces an unconfirmed one; a confirmed one is never overwritten here.
_BEGIN = """
INSERT INTO user_totp (user_id, tenant_id, secret)
VALUES (%(user_id)s, %(tenant_id)s, %(secret)s)
ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, last_step = 0,
    created_at = now()
WHERE user_totp.confirmed_at IS NULL
"""
_CONFIRM = """
UPDATE user_totp SET confirmed_at = now(), last_step = %(step)s
WHERE user_id = %(user_id)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s
  AND confirmed_at IS NULL AND last_step < %(step)s
"""
# Atomic replay protection: only a step newer than every accepted one moves it on.
_ACCEPT_STEP = """
UPDATE user_totp SET last_step = %(step)s
WHERE user_id = %(user_id)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s
  AND confirmed_at IS NOT NULL AND last_step < %(step)s
"""
_REMOVE_TOTP = """
DELETE FROM user_totp
WHERE user_id = %(user_id)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s
RETURNING confirmed_at IS NOT NULL
"""
_REMOVE_CODES = """
DELETE FROM user_recovery_codes
WHERE user_id = %(user_id)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s
"""
_INSERT_CODE = """
INSERT INTO user_recovery_codes (user_id, tenant_id, code_hash)
VALUES (%(user_id)s, %(tenant_id)s, %(hash)s)
"""
_SPEND_CODE = """
UPDATE user_recovery_codes SET used_at = now()
WHERE user_id = %(user_id)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s
  AND code_hash = %(hash)s AND used_at IS NULL
"""
_CODES_LEFT = """
SELECT count(*) FROM user_recovery_codes
WHERE user_id = %(user_id)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s AND used_at IS NULL
"""
_OPEN_CHALLENGE = """
INSERT INTO login_challenges (user_id, tenant_id, token_hash, expires_at)
VALUES (%(user_id)s, %(tenant_id)s, %(hash)s, now() + make_interval(secs => %(ttl)s))
"""
# Expired ones, and all but the newest few: a caller who knows the password cannot pile
# up challenges (each password step that passes makes one).
_PURGE_CHALLENGES = """
DELETE FROM login_challenges
WHERE user_id = %(user_id)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s
  AND (expires_at < now() OR id NOT IN (
      SELECT id FROM login_challenges
      WHERE user_id = %(user_id)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s
      ORDER BY created_at DESC LIMIT %(keep)s))
"""
#: Live challenges kept per user when a new one opens (several browsers logging in at once).
LIVE_CHALLENGES_PER_USER = 4
_REMOVE_CHALLENGES = """
DELETE FROM login_challenges
WHERE user_id = %(user_id)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s
"""
# Runs as the table owner (SECURITY DEFINER): the second login step's one cross-scope read.
_FIND_CHALLENGE = (
    "SELECT challenge_id, user_id, tenant_id FROM auth_login_challenge_owner(%(hash)s)"
)
_LOCK_CHALLENGE = """
SELECT id AS challenge_id, user_id, tenant_id, expires_at <= now() AS expired, failures
FROM login_challenges
WHERE id = %(id)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s
FOR UPDATE
"""
_CHALLENGE_FAILED = """
UPDATE login_challenges SET failures = failures + 1
WHERE id = %(id)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s
RETURNING failures
"""
_CLOSE_CHALLENGE = """
DELETE FROM login_challenges WHERE id = %(id)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s
"""
_POLICY = "SELECT required_roles FROM tenant_mfa_policies WHERE tenant_id = %(tenant_id)s"
_SET_POLICY = """
INSERT INTO tenant_mfa_policies (tenant_id, required_roles)
VALUES (%(tenant_id)s, %(roles)s)
ON CONFLICT (tenant_id) DO UPDATE SET required_roles = excluded.required_roles, updated_at = now()
"""


class MfaRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _who(self, tenant_id: UUID | None, user_id: UUID) -> dict[str, object]:
        return {"tenant_id": tenant_id, "user_id": user_id}

    async def totp(
        self, tenant_id: UUID | None, user_id: UUID, *, for_update: bool = False
    ) -> TotpRecord | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_TOTP_FOR_UPDATE if for_update else _TOTP, self._who(tenant_id, user_id))
        row = await cur.fetchone()
        return None if row is None else msgspec.convert(row, TotpRecord)

    async def begin_totp(self, tenant_id: UUID | None, user_id: UUID, secret: str) -> bool:
        cur = await self._conn.execute(_BEGIN, {**self._who(tenant_id, user_id), "secret": secret})
        return cur.rowcount == 1

    async def confirm_totp(self, tenant_id: UUID | None, user_id: UUID, step: int) -> bool:
        cur = await self._conn.execute(_CONFIRM, {**self._who(tenant_id, user_id), "step": step})
        return cur.rowcount == 1

    async def accept_step(self, tenant_id: UUID | None, user_id: UUID, step: int) -> bool:
        cur = await self._conn.execute(
            _ACCEPT_STEP, {**self._who(tenant_id, user_id), "step": step}
        )
        return cur.rowcount == 1

    async def remove(self, tenant_id: UUID | None, user_id: UUID) -> bool:
        who = self._who(tenant_id, user_id)
        cur = await self._conn.execute(_REMOVE_TOTP, who)
        row = await cur.fetchone()
        await self._conn.execute(_REMOVE_CODES, who)
        await self._conn.execute(_REMOVE_CHALLENGES, who)
        return bool(row and row[0])

    async def replace_recovery_codes(
        self, tenant_id: UUID | None, user_id: UUID, digests: Sequence[bytes]
    ) -> None:
        who = self._who(tenant_id, user_id)
        await self._conn.execute(_REMOVE_CODES, who)
        async with self._conn.cursor() as cur:
            await cur.executemany(_INSERT_CODE, [{**who, "hash": d} for d in digests])

    async def spend_recovery_code(
        self, tenant_id: UUID | None, user_id: UUID, digest: bytes
    ) -> bool:
        cur = await self._conn.execute(
            _SPEND_CODE, {**self._who(tenant_id, user_id), "hash": digest}
        )
        return cur.rowcount == 1

    async def recovery_codes_left(self, tenant_id: UUID | None, user_id: UUID) -> int:
        cur = await self._conn.execute(_CODES_LEFT, self._who(tenant_id, user_id))
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def open_challenge(
        self, tenant_id: UUID | None, user_id: UUID, token_hash: bytes, ttl_s: int
    ) -> None:
        who = self._who(tenant_id, user_id)
        await self._conn.execute(_PURGE_CHALLENGES, {**who, "keep": LIVE_CHALLENGES_PER_USER})
        await self._conn.execute(_OPEN_CHALLENGE, {**who, "hash": token_hash, "ttl": ttl_s})

    async def find_challenge(self, token_hash: bytes) -> ChallengeOwner | None:
        cur = await self._conn.execute(_FIND_CHALLENGE, {"hash": token_hash})
        row = await cur.fetchone()
        return None if row is None else ChallengeOwner(*row)

    async def lock_challenge(
        self, tenant_id: UUID | None, challenge_id: UUID
    ) -> ChallengeState | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_LOCK_CHALLENGE, {"id": challenge_id, "tenant_id": tenant_id})
        row = await cur.fetchone()
        return None if row is None else msgspec.convert(row, ChallengeState)

    async def challenge_failed(self, tenant_id: UUID | None, challenge_id: UUID) -> int:
        cur = await self._conn.execute(
            _CHALLENGE_FAILED, {"id": challenge_id, "tenant_id": tenant_id}
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def close_challenge(self, tenant_id: UUID | None, challenge_id: UUID) -> None:
        await self._conn.execute(_CLOSE_CHALLENGE, {"id": challenge_id, "tenant_id": tenant_id})

    async def policy(self, tenant_id: UUID) -> tuple[Role, ...]:
        cur = await self._conn.execute(_POLICY, {"tenant_id": tenant_id})
        row = await cur.fetchone()
        return () if row is None else tuple(Role(r) for r in row[0])

    async def set_policy(self, tenant_id: UUID, roles: Sequence[Role]) -> None:
        await self._conn.execute(
            _SET_POLICY, {"tenant_id": tenant_id, "roles": [r.value for r in roles]}
        )
