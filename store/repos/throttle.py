"""SQL for login throttling counters (not tenant-owned: keyed by account digest/address)."""

from __future__ import annotations

from store.db import Connection

_RETRY_AFTER = """
SELECT coalesce(ceil(extract(epoch FROM max(blocked_until) - now())), 0)::integer
FROM login_throttle
WHERE key = ANY (%(keys)s) AND blocked_until > now()
"""
# A key whose last failure left the window starts again from one.
_COUNT_FAILURE = """
INSERT INTO login_throttle AS t (key, failures, first_failure_at, last_failure_at)
VALUES (%(key)s, 1, now(), now())
ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN t.last_failure_at < now() - make_interval(secs => %(window)s)
                    THEN 1 ELSE t.failures + 1 END,
    first_failure_at = CASE WHEN t.last_failure_at < now() - make_interval(secs => %(window)s)
                            THEN now() ELSE t.first_failure_at END,
    last_failure_at = now()
RETURNING failures
"""
_BLOCK = """
UPDATE login_throttle
SET blocked_until = greatest(blocked_until, now() + make_interval(secs => %(seconds)s))
WHERE key = %(key)s
"""
_CLEAR = "DELETE FROM login_throttle WHERE key = %(key)s"
# Bounded, so a failure never pays for a large backlog.
_PURGE_STALE = """
DELETE FROM login_throttle WHERE key IN (
    SELECT key FROM login_throttle
    WHERE last_failure_at < now() - make_interval(secs => %(window)s)
      AND (blocked_until IS NULL OR blocked_until < now())
    LIMIT 100
)
"""


class ThrottleRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def retry_after(self, keys: list[str]) -> int:
        cur = await self._conn.execute(_RETRY_AFTER, {"keys": keys})
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def count_failure(self, key: str, *, window_s: int) -> int:
        cur = await self._conn.execute(_COUNT_FAILURE, {"key": key, "window": window_s})
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def block(self, key: str, seconds: int) -> None:
        await self._conn.execute(_BLOCK, {"key": key, "seconds": seconds})

    async def clear(self, key: str) -> None:
        await self._conn.execute(_CLEAR, {"key": key})

    async def purge_stale(self, *, window_s: int) -> int:
        cur = await self._conn.execute(_PURGE_STALE, {"window": window_s})
        return cur.rowcount
