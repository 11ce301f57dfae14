"""SQL for the audit trail: sealed appends under a per-chain lock, queries, chain pages.

The database refuses UPDATE/DELETE/TRUNCATE on ``audit_log`` (triggers) and the
application role holds only INSERT and SELECT there; the hash chain (actors/domain/audit.py)
detects what a superuser could still do behind both.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from psycopg import sql
from psycopg.rows import dict_row

from actors.domain.audit import (
    ACTION_NAME,
    GENESIS_HASH,
    AuditEntry,
    canonical_details,
    chain_name,
    hash_of,
)
from actors.domain.principal import AuditActor, Principal
from store.db import Connection

#: First key of the two-key advisory lock; the second is ``hashtext(chain name)``. Two
#: chains that collide on the hash merely share a lock, which is harmless.
AUDIT_LOCK_NAMESPACE = 0x41554454  # "AUDT"

_LOCK = "SELECT pg_advisory_xact_lock(%(ns)s, hashtext(%(chain)s))"
# clock_timestamp(), not now(): entries are stamped when sealed, in chain order.
_HEAD = sql.SQL("""
SELECT h.seq, h.hash, clock_timestamp() AS now
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (
    SELECT seq, hash FROM audit_log WHERE {chain} ORDER BY seq DESC LIMIT 1
) AS h ON true
""")
_INSERT = """
INSERT INTO audit_log (id, tenant_id, seq, at, actor, actor_name, action, target, details,
                       request_id, source_ip, prev_hash, hash)
VALUES (%(id)s, %(tenant_id)s, %(seq)s, %(at)s, %(actor)s, %(actor_name)s, %(action)s,
        %(target)s, %(details)s, %(request_id)s, %(source_ip)s, %(prev_hash)s, %(hash)s)
"""
_COLUMNS = sql.SQL(
    "id, tenant_id, seq, at, actor, actor_name, action, target, details, request_id,"
    " source_ip, prev_hash, hash"
)
_QUERY = sql.SQL("""
SELECT {columns} FROM audit_log
WHERE {chain}
  AND (%(since)s::timestamptz IS NULL OR at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR at < %(until)s)
  AND (%(action)s::text IS NULL OR action = %(action)s)
  AND (%(actor)s::text IS NULL
       OR actor = %(actor)s OR actor = 'user:' || %(actor)s OR actor_name = %(actor)s)
  AND (%(before_seq)s::bigint IS NULL OR seq < %(before_seq)s)
ORDER BY seq DESC
LIMIT %(limit)s
""")
_PAGE = sql.SQL("""
SELECT {columns} FROM audit_log
WHERE {chain} AND seq > %(after_seq)s
ORDER BY seq
LIMIT %(limit)s
""")
_HEAD_SEQ = sql.SQL("SELECT coalesce(max(seq), 0) FROM audit_log WHERE {chain}")


def _chain(tenant_id: UUID | None) -> sql.Composable:
    """The chain predicate, in a form the (tenant_id, seq) index serves."""
    if tenant_id is None:
        return sql.SQL("tenant_id IS NULL")
    return sql.SQL("tenant_id = %(tenant_id)s")


def _entry(row: dict[str, Any]) -> AuditEntry:
    details: str = row.pop("details")
    return AuditEntry(**row, details=msgspec.Raw(details.encode()))


class AuditRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def append(
        self,
        tenant_id: UUID | None,
        who: Principal | AuditActor,
        action: str,
        *,
        target: str,
        before: object = None,
        after: object = None,
        details: Mapping[str, object] | None = None,
    ) -> AuditEntry:
        if not ACTION_NAME.match(action):
            raise ValueError(f"audit action names are 'area.verb', got {action!r}")
        actor = who.actor if isinstance(who, Principal) else who
        body = canonical_details(before=before, after=after, extra=details)
        chain = chain_name(tenant_id)
        # The lock serialises appenders of one chain until their transactions end, so
        # the head read below is the head this entry follows (READ COMMITTED: each
        # statement sees what committed before it began).
        await self._conn.execute(_LOCK, {"ns": AUDIT_LOCK_NAMESPACE, "chain": chain})
        cur = await self._conn.execute(
            _HEAD.format(chain=_chain(tenant_id)), {"tenant_id": tenant_id}
        )
        row = await cur.fetchone()
        assert row is not None
        head_seq, head_hash, now = row
        at: datetime = now
        unsealed = AuditEntry(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            seq=(head_seq or 0) + 1,
            at=at,
            actor=actor.ref,
            actor_name=actor.name,
            action=action,
            target=target,
            details=msgspec.Raw(body),
            request_id=actor.request_id,
            source_ip=actor.source_ip,
            prev_hash=head_hash or GENESIS_HASH,
            hash="",
        )
        entry = msgspec.structs.replace(unsealed, hash=hash_of(unsealed))
        await self._conn.execute(
            _INSERT,
            {
                "id": entry.id,
                "tenant_id": entry.tenant_id,
                "seq": entry.seq,
                "at": entry.at,
                "actor": entry.actor,
                "actor_name": entry.actor_name,
                "action": entry.action,
                "target": entry.target,
                "details": body.decode(),
                "request_id": entry.request_id,
                "source_ip": entry.source_ip,
                "prev_hash": entry.prev_hash,
                "hash": entry.hash,
            },
        )
        return entry

    async def query(
        self,
        tenant_id: UUID | None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        action: str | None = None,
        actor: str | None = None,
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            _QUERY.format(columns=_COLUMNS, chain=_chain(tenant_id)),
            {
                "tenant_id": tenant_id,
                "since": since,
                "until": until,
                "action": action,
                "actor": actor,
                "before_seq": before_seq,
                "limit": limit,
            },
        )
        return [_entry(row) for row in await cur.fetchall()]

    async def page(self, tenant_id: UUID | None, *, after_seq: int, limit: int) -> list[AuditEntry]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            _PAGE.format(columns=_COLUMNS, chain=_chain(tenant_id)),
            {"tenant_id": tenant_id, "after_seq": after_seq, "limit": limit},
        )
        return [_entry(row) for row in await cur.fetchall()]

    async def head_seq(self, tenant_id: UUID | None) -> int:
        cur = await self._conn.execute(
            _HEAD_SEQ.format(chain=_chain(tenant_id)), {"tenant_id": tenant_id}
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0
