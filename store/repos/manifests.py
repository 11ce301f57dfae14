"""SQL for device manifests, their shared documents and the per-tenant counter
(sql/0022_manifests.sql). Batch statements only: one recomputation writes thousands of
devices in a handful of statements, never one per device."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row

from actors.domain.device_manifests import StoredManifest
from actors.domain.manifest_batch import DeviceScope, PlannedDocument
from actors.domain.schedule_types import DeviceProfile
from actors.protocol import INT63_MAX
from store.db import Connection

_LOCK = "SELECT version FROM manifest_state WHERE tenant_id = %(tenant_id)s FOR UPDATE"
_CREATE_STATE = """
INSERT INTO manifest_state (tenant_id) VALUES (%(tenant_id)s) ON CONFLICT (tenant_id) DO NOTHING
"""

_PLANNING_DEVICES = """
SELECT id, groups, timezone FROM devices
WHERE tenant_id = %(tenant_id)s AND status = 'approved'
  AND (%(everyone)s OR groups && %(groups)s::text[] OR id = ANY(%(ids)s::uuid[]))
"""

_HASHES = """
SELECT device_id, hash FROM device_manifests
WHERE tenant_id = %(tenant_id)s AND device_id = ANY(%(ids)b::uuid[])
"""

# Bulk parameters travel in binary (``%(...)b``): a recomputation sends megabytes of
# documents, and text-format arrays would escape every quote of their JSON.
_INSERT_DOCUMENTS = """
INSERT INTO manifest_documents (tenant_id, hash, document)
SELECT %(tenant_id)s, doc.hash, doc.document
FROM unnest(%(hashes)b::text[], %(documents)b::text[]) AS doc(hash, document)
ON CONFLICT (tenant_id, hash) DO NOTHING
"""

_UPSERT_MANIFESTS = """
INSERT INTO device_manifests (tenant_id, device_id, version, hash, starts_at, ends_at,
                              computed_at)
SELECT %(tenant_id)s, m.device_id, %(version)s, m.hash, m.starts_at, m.ends_at, %(at)s
FROM unnest(%(ids)b::uuid[], %(hashes)b::text[], %(starts)b::timestamptz[],
            %(ends)b::timestamptz[]) AS m(device_id, hash, starts_at, ends_at)
ON CONFLICT (tenant_id, device_id) DO UPDATE
SET version = EXCLUDED.version, hash = EXCLUDED.hash, starts_at = EXCLUDED.starts_at,
    ends_at = EXCLUDED.ends_at, computed_at = EXCLUDED.computed_at
"""

_SET_VERSION = """
UPDATE manifest_state SET version = %(version)s, recomputed_at = %(at)s
WHERE tenant_id = %(tenant_id)s
"""

_PRUNE_DOCUMENTS = """
DELETE FROM manifest_documents d
WHERE d.tenant_id = %(tenant_id)s
  AND NOT EXISTS (SELECT 1 FROM device_manifests m
                  WHERE m.tenant_id = d.tenant_id AND m.hash = d.hash)
"""

_FORGET_UNAPPROVED = """
DELETE FROM device_manifests m
USING devices d
WHERE m.tenant_id = %(tenant_id)s AND d.id = m.device_id
  AND (d.status <> 'approved' OR d.tenant_id IS DISTINCT FROM m.tenant_id)
"""

_GET = """
SELECT m.device_id, m.version, m.hash, d.document, m.starts_at, m.ends_at, m.computed_at,
       m.acked_version, m.acked_at
FROM device_manifests m
JOIN manifest_documents d ON d.tenant_id = m.tenant_id AND d.hash = m.hash
WHERE m.tenant_id = %(tenant_id)s AND m.device_id = %(device_id)s
"""

_NEWER = """
SELECT m.device_id, m.version, m.hash
FROM unnest(%(ids)b::uuid[], %(known)b::bigint[]) AS k(device_id, version)
JOIN device_manifests m
  ON m.tenant_id = %(tenant_id)s AND m.device_id = k.device_id AND m.version > k.version
"""

_CURRENT = """
SELECT d.id, m.version, m.hash FROM devices d
LEFT JOIN device_manifests m ON m.tenant_id = d.tenant_id AND m.device_id = d.id
WHERE d.tenant_id = %(tenant_id)s AND d.status = 'approved'
"""

_DOCUMENTS = """
SELECT hash, document FROM manifest_documents
WHERE tenant_id = %(tenant_id)s AND hash = ANY(%(hashes)b::text[])
"""

# Leases tenants (active ones) whose manifests were planned from an older horizon start;
# SKIP LOCKED passes over tenants being recomputed right now (they are fresh soon).
_CLAIM_DUE = """
UPDATE manifest_state s SET lease_until = now() + make_interval(secs => %(lease_s)s)
WHERE s.tenant_id IN (
    SELECT st.tenant_id FROM manifest_state st
    JOIN tenants t ON t.id = st.tenant_id AND t.status = 'active'
    WHERE (st.lease_until IS NULL OR st.lease_until < now())
      AND EXISTS (SELECT 1 FROM device_manifests m
                  WHERE m.tenant_id = st.tenant_id AND m.starts_at < %(before)s)
    ORDER BY st.tenant_id
    LIMIT %(limit)s
    FOR UPDATE OF st SKIP LOCKED
)
RETURNING s.tenant_id
"""

_RECORD_ACKS = """
UPDATE device_manifests m
SET acked_version = a.version, acked_at = a.at
FROM unnest(%(tenants)b::uuid[], %(devices)b::uuid[], %(versions)b::bigint[],
            %(ats)b::timestamptz[]) AS a(tenant_id, device_id, version, at)
WHERE m.tenant_id = a.tenant_id AND m.device_id = a.device_id
  AND a.version BETWEEN 1 AND m.version
  AND (m.acked_version IS NULL OR m.acked_version < a.version)
"""


class ManifestRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def lock(self, tenant_id: UUID) -> int:
        params = {"tenant_id": tenant_id}
        cur = await self._conn.execute(_LOCK, params)
        row = await cur.fetchone()
        if row is None:
            await self._conn.execute(_CREATE_STATE, params)
            cur = await self._conn.execute(_LOCK, params)
            row = await cur.fetchone()
            assert row is not None
        return int(row[0])

    async def planning_devices(self, tenant_id: UUID, scope: DeviceScope) -> list[DeviceProfile]:
        if scope.empty:
            return []
        cur = await self._conn.execute(
            _PLANNING_DEVICES,
            {
                "tenant_id": tenant_id,
                "everyone": scope.everyone,
                "groups": sorted(scope.groups),
                "ids": list(scope.device_ids),
            },
        )
        return [
            DeviceProfile(id=row[0], timezone=row[2], groups=frozenset(row[1]))
            for row in await cur.fetchall()
        ]

    async def hashes(self, tenant_id: UUID, device_ids: Collection[UUID]) -> dict[UUID, str]:
        if not device_ids:
            return {}
        cur = await self._conn.execute(_HASHES, {"tenant_id": tenant_id, "ids": list(device_ids)})
        return {row[0]: row[1] for row in await cur.fetchall()}

    async def store(
        self,
        tenant_id: UUID,
        *,
        version: int,
        documents: Collection[PlannedDocument],
        changed: Mapping[UUID, str],
        computed_at: datetime,
    ) -> None:
        by_hash = {document.hash: document for document in documents}
        await self._conn.execute(
            _INSERT_DOCUMENTS,
            {
                "tenant_id": tenant_id,
                "hashes": list(by_hash),
                "documents": [document.document for document in by_hash.values()],
            },
        )
        ids = list(changed)
        hashes = [changed[device_id] for device_id in ids]
        await self._conn.execute(
            _UPSERT_MANIFESTS,
            {
                "tenant_id": tenant_id,
                "version": version,
                "at": computed_at,
                "ids": ids,
                "hashes": hashes,
                "starts": [by_hash[h].starts_at for h in hashes],
                "ends": [by_hash[h].ends_at for h in hashes],
            },
        )
        params = {"tenant_id": tenant_id, "version": version, "at": computed_at}
        await self._conn.execute(_SET_VERSION, params)
        await self._conn.execute(_PRUNE_DOCUMENTS, params)

    async def forget_unapproved(self, tenant_id: UUID) -> int:
        cur = await self._conn.execute(_FORGET_UNAPPROVED, {"tenant_id": tenant_id})
        if cur.rowcount:
            await self._conn.execute(_PRUNE_DOCUMENTS, {"tenant_id": tenant_id})
        return cur.rowcount

    async def get(self, tenant_id: UUID, device_id: UUID) -> StoredManifest | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_GET, {"tenant_id": tenant_id, "device_id": device_id})
        row = await cur.fetchone()
        return None if row is None else StoredManifest(**row)

    async def newer(
        self, tenant_id: UUID, known: Mapping[UUID, int]
    ) -> list[tuple[UUID, int, str]]:
        if not known:
            return []
        ids = list(known)
        cur = await self._conn.execute(
            _NEWER,
            {"tenant_id": tenant_id, "ids": ids, "known": [known[device] for device in ids]},
        )
        heads: list[tuple[UUID, int, str]] = [
            (row[0], int(row[1]), row[2]) for row in await cur.fetchall()
        ]
        return await self._with_documents(tenant_id, heads)

    async def current(self, tenant_id: UUID) -> tuple[list[tuple[UUID, int, str]], list[UUID]]:
        cur = await self._conn.execute(_CURRENT, {"tenant_id": tenant_id})
        heads: list[tuple[UUID, int, str]] = []
        unplanned: list[UUID] = []
        for device_id, version, digest in await cur.fetchall():
            if version is None:
                unplanned.append(device_id)
            else:
                heads.append((device_id, int(version), digest))
        return await self._with_documents(tenant_id, heads), unplanned

    async def _with_documents(
        self, tenant_id: UUID, heads: list[tuple[UUID, int, str]]
    ) -> list[tuple[UUID, int, str]]:
        """``heads`` (device, version, hash) with each hash's document in place of it."""
        if not heads:
            return []
        # Shared documents cross the wire once, not once per device.
        cur = await self._conn.execute(
            _DOCUMENTS, {"tenant_id": tenant_id, "hashes": list({h for _, _, h in heads})}
        )
        documents: dict[str, str] = {row[0]: row[1] for row in await cur.fetchall()}
        # A document pruned between the two reads belongs to an even newer version whose
        # own notification follows: skip the device now rather than send a stale frame.
        return [
            (device_id, version, documents[h]) for device_id, version, h in heads if h in documents
        ]

    async def claim_due(self, *, before: datetime, lease_s: float, limit: int) -> list[UUID]:
        cur = await self._conn.execute(
            _CLAIM_DUE, {"before": before, "lease_s": lease_s, "limit": limit}
        )
        return [row[0] for row in await cur.fetchall()]

    async def record_acks(self, acks: Sequence[tuple[UUID, UUID, int, datetime]]) -> int:
        newest: dict[tuple[UUID, UUID], tuple[int, datetime]] = {}
        for tenant_id, device_id, version, at in acks:
            # Screens share this statement across tenants: a row PostgreSQL cannot take
            # (a version past bigint) is dropped alone instead of failing everyone's.
            if not 1 <= version <= INT63_MAX:
                continue
            key = (tenant_id, device_id)
            if key not in newest or newest[key][0] < version:
                newest[key] = (version, at)
        if not newest:
            return 0
        params: dict[str, Any] = {
            "tenants": [tenant for tenant, _ in newest],
            "devices": [device for _, device in newest],
            "versions": [version for version, _ in newest.values()],
            "ats": [at for _, at in newest.values()],
        }
        cur = await self._conn.execute(_RECORD_ACKS, params)
        return cur.rowcount
