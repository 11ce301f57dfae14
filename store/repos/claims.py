"""SQL for failed pairing-code claims, counted per tenant (sql/0050_device_claim_limits.sql).

Every statement runs inside the claim's transaction, after the tenant's row is locked, so
the check, the claim and the count of one tenant's attempts never interleave on any node.
"""

from __future__ import annotations

from uuid import UUID

from actors.domain.pairing import ClaimFailure
from store.db import Connection

_RETRY_AFTER = """
SELECT coalesce(ceil(extract(epoch FROM blocked_until - now())), 0)::integer
FROM claim_failures
WHERE tenant_id = %(tenant_id)s AND blocked_until > now()
"""

# A tenant whose last failure left the window starts again from one.
_COUNT_FAILURE = """
INSERT INTO claim_failures AS f (tenant_id, failures, first_failure_at, last_failure_at,
                                 unaudited)
VALUES (%(tenant_id)s, 1, now(), now(), 1)
ON CONFLICT (tenant_id) DO UPDATE SET
    failures = CASE WHEN f.last_failure_at < now() - make_interval(secs => %(window)s)
                    THEN 1 ELSE f.failures + 1 END,
    first_failure_at = CASE WHEN f.last_failure_at < now() - make_interval(secs => %(window)s)
                            THEN now() ELSE f.first_failure_at END,
    last_failure_at = now(),
    unaudited = f.unaudited + 1
RETURNING failures, unaudited,
          (audited_at IS NULL OR audited_at <= now() - make_interval(secs => %(audit_every)s))
"""

_BLOCK = """
UPDATE claim_failures
SET blocked_until = greatest(blocked_until, now() + make_interval(secs => %(seconds)s))
WHERE tenant_id = %(tenant_id)s
"""

_AUDITED = """
UPDATE claim_failures SET audited_at = now(), unaudited = 0 WHERE tenant_id = %(tenant_id)s
"""


class ClaimRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def retry_after(self, tenant_id: UUID) -> int:
        cur = await self._conn.execute(_RETRY_AFTER, {"tenant_id": tenant_id})
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def count_failure(
        self, tenant_id: UUID, *, window_s: int, audit_every_s: int
    ) -> ClaimFailure:
        cur = await self._conn.execute(
            _COUNT_FAILURE,
            {"tenant_id": tenant_id, "window": window_s, "audit_every": audit_every_s},
        )
        row = await cur.fetchone()
        assert row is not None
        return ClaimFailure(failures=int(row[0]), unaudited=int(row[1]), audit_due=bool(row[2]))

    async def block(self, tenant_id: UUID, seconds: int) -> None:
        await self._conn.execute(_BLOCK, {"tenant_id": tenant_id, "seconds": seconds})

    async def audited(self, tenant_id: UUID) -> None:
        await self._conn.execute(_AUDITED, {"tenant_id": tenant_id})
