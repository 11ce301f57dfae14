"""SQL for login throttling counters (not tenant-owned: keyed by account digest/address).

A key's row holds its failures within the window, its block, and the attempts in flight
(reserved before password work, released with the outcome). Every statement touches one
key, and callers take keys in one fixed order (account, then address), so two attempts
never wait on each other's rows in opposite orders.
"""

from __future__ import annotations

from actors.domain.throttle import KeyState
from store.db import Connection

# The upsert locks the key's row until the transaction ends: concurrent reservations of
# one key queue here, and each sees the count the previous one committed (or rolled back).
_RESERVE = """
INSERT INTO login_throttle AS t (key, failures, in_flight, in_flight_until)
VALUES (%(key)s, 0, 1, now() + make_interval(secs => %(ttl)s))
ON CONFLICT (key) DO UPDATE SET
    in_flight = CASE WHEN t.in_flight_until > now() THEN t.in_flight ELSE 0 END + 1,
    in_flight_until = now() + make_interval(secs => %(ttl)s)
RETURNING
    CASE WHEN t.last_failure_at >= now() - make_interval(secs => %(window)s)
         THEN t.failures ELSE 0 END,
    t.in_flight,
    greatest(coalesce(ceil(extract(epoch FROM t.blocked_until - now())), 0), 0)::integer
"""
_RELEASE = """
UPDATE login_throttle
SET in_flight = CASE WHEN in_flight_until > now() THEN greatest(in_flight - 1, 0) ELSE 0 END
WHERE key = %(key)s
"""
# A row with nothing left to remember is deleted at once (successes would pile them up).
_FORGET_IF_EMPTY = """
DELETE FROM login_throttle
WHERE key = %(key)s AND in_flight = 0
  AND (blocked_until IS NULL OR blocked_until <= now())
  AND (failures = 0 OR last_failure_at < now() - make_interval(secs => %(window)s))
"""
# A key whose last failure left the window starts again from one.
_COUNT_FAILURE = """
INSERT INTO login_throttle AS t (key, failures, first_failure_at, last_failure_at)
VALUES (%(key)s, 1, now(), now())
ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN t.last_failure_at IS NULL
                      OR t.last_failure_at < now() - make_interval(secs => %(window)s)
                    THEN 1 ELSE t.failures + 1 END,
    first_failure_at = CASE WHEN t.last_failure_at IS NULL
                              OR t.last_failure_at < now() - make_interval(secs => %(window)s)
                            THEN now() ELSE t.first_failure_at END,
    last_failure_at = now()
RETURNING failures
"""
_BLOCK = """
UPDATE login_throttle
SET blocked_until = greatest(blocked_until, now() + make_interval(secs => %(seconds)s))
WHERE key = %(key)s
"""
_CLEAR = """
UPDATE login_throttle
SET failures = 0, first_failure_at = NULL, last_failure_at = NULL, blocked_until = NULL
WHERE key = %(key)s
"""
# Bounded, so a failure never pays for a large backlog.
_PURGE_STALE = """
DELETE FROM login_throttle WHERE key IN (
    SELECT key FROM login_throttle
    WHERE (last_failure_at IS NULL OR last_failure_at < now() - make_interval(secs => %(window)s))
      AND (blocked_until IS NULL OR blocked_until < now())
      AND (in_flight = 0 OR in_flight_until < now())
    LIMIT 100
)
"""


class ThrottleRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def reserve(self, key: str, *, window_s: int, ttl_s: int) -> KeyState:
        cur = await self._conn.execute(_RESERVE, {"key": key, "window": window_s, "ttl": ttl_s})
        row = await cur.fetchone()
        assert row is not None
        return KeyState(failures=int(row[0]), in_flight=int(row[1]), blocked_s=int(row[2]))

    async def release(self, key: str, *, window_s: int) -> None:
        await self._conn.execute(_RELEASE, {"key": key})
        await self._conn.execute(_FORGET_IF_EMPTY, {"key": key, "window": window_s})

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
