"""SQL for devices. Pending registrations (tenant_id NULL) are platform-scope rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from psycopg import errors, sql
from psycopg.rows import dict_row

from actors.domain.devices import Credential, Device, DeviceFilter, SessionGrant
from actors.errors import NotFound
from actors.pagination import ByName, PageRequest
from store.db import Connection
from store.keyset import Keyset

# Every query that returns a device lists the same columns (those of ``Device``).
_REGISTER = """
INSERT INTO devices (id, secret_hash, hardware_id, model, app_version, registered_from,
                     registered_prefix, pairing_code, pairing_expires_at)
VALUES (%(id)s, %(secret_hash)s, %(hardware_id)s, %(model)s, %(app_version)s, %(source)s,
        %(prefix)s, %(code)s, now() + make_interval(secs => %(ttl)s))
ON CONFLICT (pairing_code) DO NOTHING
RETURNING pairing_expires_at
"""

_PENDING_COUNTS = """
SELECT count(*) FILTER (WHERE registered_prefix = %(prefix)s), count(*)
FROM devices
WHERE status = 'pending' AND tenant_id IS NULL AND pairing_expires_at > now()
"""

_PURGE_EXPIRED = """
DELETE FROM devices
WHERE id IN (
    SELECT id FROM devices
    WHERE status = 'pending' AND tenant_id IS NULL AND pairing_expires_at <= now()
    ORDER BY pairing_expires_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
"""

_CREDENTIAL = """
SELECT d.id AS device_id, d.status, d.tenant_id,
       coalesce(t.status = 'active', false) AS tenant_active, d.groups, d.timezone, d.name
FROM devices d LEFT JOIN tenants t ON t.id = d.tenant_id
WHERE d.secret_hash = %(hash)s
"""

#: The same, for many secrets at once (the handshakes of a reconnect storm).
_CREDENTIALS = """
SELECT d.secret_hash, d.id AS device_id, d.status, d.tenant_id,
       coalesce(t.status = 'active', false) AS tenant_active, d.groups, d.timezone, d.name
FROM devices d LEFT JOIN tenants t ON t.id = d.tenant_id
WHERE d.secret_hash = ANY(%(hashes)s)
"""

_CLAIM = """
UPDATE devices
SET tenant_id = %(tenant_id)s, status = 'approved', pairing_code = NULL,
    pairing_expires_at = NULL, name = %(name)s, groups = %(groups)s, timezone = %(timezone)s,
    claimed_at = now(), claimed_by = %(claimed_by)s
WHERE pairing_code = %(code)s AND status = 'pending' AND tenant_id IS NULL
  AND pairing_expires_at > now()
RETURNING id, tenant_id, name, status, groups, timezone, hardware_id, model, app_version,
          created_at, claimed_at, revoked_at, last_seen_at
"""

_GET = """
SELECT id, tenant_id, name, status, groups, timezone, hardware_id, model, app_version,
          created_at, claimed_at, revoked_at, last_seen_at
FROM devices WHERE tenant_id = %(tenant_id)s AND id = %(id)s
"""

_GET_FOR_UPDATE = """
SELECT id, tenant_id, name, status, groups, timezone, hardware_id, model, app_version,
          created_at, claimed_at, revoked_at, last_seen_at
FROM devices WHERE tenant_id = %(tenant_id)s AND id = %(id)s
FOR UPDATE
"""

_BY_NAME = Keyset("name", "id")
# Each filter is off when its parameter is NULL (docs/devices.md, "Status"). "Offline for"
# reads the stored last_seen_at (written every 30 s while connected): the use case drops
# the few rows presence still shows online. A version that cannot be compared (none
# reported, no leading number) counts as below any bound.
_PAGE = sql.SQL("""
SELECT id, tenant_id, name, status, groups, timezone, hardware_id, model, app_version,
          created_at, claimed_at, revoked_at, last_seen_at
FROM devices WHERE tenant_id = %(tenant_id)s{after}
  AND (%(group)s::text IS NULL OR groups @> ARRAY[%(group)s::text])
  AND (%(offline_s)s::float8 IS NULL
       OR (status = 'approved'
           AND (last_seen_at IS NULL
                OR last_seen_at < now() - make_interval(secs => %(offline_s)s::float8))))
  AND (%(below)s::text IS NULL
       OR coalesce(app_version_key(coalesce(
              (SELECT h.app_version FROM device_health h
               WHERE h.device_id = devices.id AND h.tenant_id = devices.tenant_id),
              app_version)), '{{}}') < app_version_key(%(below)s::text))
ORDER BY {order_by}
LIMIT %(limit)s
""")

_MANY_FOR_UPDATE = """
SELECT id, tenant_id, name, status, groups, timezone, hardware_id, model, app_version,
          created_at, claimed_at, revoked_at, last_seen_at
FROM devices WHERE tenant_id = %(tenant_id)s AND id = ANY(%(ids)s::uuid[])
ORDER BY id
FOR UPDATE
"""

_REVOKE_MANY = """
UPDATE devices
SET status = 'revoked', revoked_at = coalesce(revoked_at, now())
WHERE tenant_id = %(tenant_id)s AND id = ANY(%(ids)s::uuid[])
RETURNING id, tenant_id, name, status, groups, timezone, hardware_id, model, app_version,
          created_at, claimed_at, revoked_at, last_seen_at
"""

# Its health, commands, manifests and emergency acks go with it (ON DELETE CASCADE).
_DELETE = """
DELETE FROM devices WHERE tenant_id = %(tenant_id)s AND id = %(id)s
RETURNING id, tenant_id, name, status, groups, timezone, hardware_id, model, app_version,
          created_at, claimed_at, revoked_at, last_seen_at
"""

_UPDATE = """
UPDATE devices
SET name = coalesce(%(name)s::text, name),
    groups = coalesce(%(groups)s::text[], groups),
    timezone = coalesce(%(timezone)s::text, timezone)
WHERE tenant_id = %(tenant_id)s AND id = %(id)s
RETURNING id, tenant_id, name, status, groups, timezone, hardware_id, model, app_version,
          created_at, claimed_at, revoked_at, last_seen_at
"""

_REVOKE = """
UPDATE devices
SET status = 'revoked', revoked_at = coalesce(revoked_at, now())
WHERE tenant_id = %(tenant_id)s AND id = %(id)s
RETURNING id, tenant_id, name, status, groups, timezone, hardware_id, model, app_version,
          created_at, claimed_at, revoked_at, last_seen_at
"""

_ROTATE_HASH = """
UPDATE devices d
SET secret_hash = %(hash)s, secret_rotated_at = now()
FROM devices old
WHERE d.tenant_id = %(tenant_id)s AND d.id = %(id)s AND old.id = d.id
RETURNING d.id, d.tenant_id, d.name, d.status, d.groups, d.timezone, d.hardware_id, d.model,
          d.app_version, d.created_at, d.claimed_at, d.revoked_at, d.last_seen_at,
          old.secret_hash AS old_secret_hash
"""

_SESSION_GRANTS = """
SELECT d.id AS device_id, d.groups, d.timezone, d.name, d.secret_hash
FROM devices d JOIN tenants t ON t.id = d.tenant_id
WHERE d.tenant_id = %(tenant_id)s AND d.id = ANY(%(ids)s::uuid[])
  AND d.status = 'approved' AND t.status = 'active'
"""

_LAST_SEEN = """
UPDATE devices AS d
SET last_seen_at = v.at, last_node = v.node
FROM unnest(%(ids)s::uuid[], %(ats)s::timestamptz[], %(nodes)s::text[]) AS v(id, at, node)
WHERE d.id = v.id AND d.tenant_id IS NOT NULL
  AND (d.last_seen_at IS NULL OR d.last_seen_at < v.at)
"""


def _grouped(row: dict[str, Any]) -> dict[str, Any]:
    row["groups"] = tuple(row["groups"])
    return row


def _device(row: dict[str, Any]) -> Device:
    return msgspec.convert(_grouped(row), Device)


class DeviceRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def register(
        self,
        *,
        device_id: UUID,
        secret_hash: bytes,
        hardware_id: str,
        model: str | None,
        app_version: str | None,
        source: str,
        prefix: str,
        pairing_code: str,
        pairing_ttl_s: int,
    ) -> datetime | None:
        cur = await self._conn.execute(
            _REGISTER,
            {
                "id": device_id,
                "secret_hash": secret_hash,
                "hardware_id": hardware_id,
                "model": model,
                "app_version": app_version,
                "source": source,
                "prefix": prefix,
                "code": pairing_code,
                "ttl": pairing_ttl_s,
            },
        )
        row = await cur.fetchone()
        return None if row is None else row[0]

    async def pending_counts(self, prefix: str) -> tuple[int, int]:
        cur = await self._conn.execute(_PENDING_COUNTS, {"prefix": prefix})
        row = await cur.fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    async def purge_expired_registrations(self, *, limit: int) -> int:
        cur = await self._conn.execute(_PURGE_EXPIRED, {"limit": limit})
        return cur.rowcount

    async def credential(self, secret_hash: bytes) -> Credential | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_CREDENTIAL, {"hash": secret_hash})
        row = await cur.fetchone()
        if row is None:
            return None
        row["groups"] = tuple(row["groups"])
        return msgspec.convert(row, Credential)

    async def credentials(self, secret_hashes: Sequence[bytes]) -> dict[bytes, Credential]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_CREDENTIALS, {"hashes": list(secret_hashes)})
        found: dict[bytes, Credential] = {}
        for row in await cur.fetchall():
            digest = bytes(row.pop("secret_hash"))
            row["groups"] = tuple(row["groups"])
            found[digest] = msgspec.convert(row, Credential)
        return found

    async def claim(
        self,
        *,
        tenant_id: UUID,
        pairing_code: str,
        name: str,
        groups: tuple[str, ...],
        timezone: str,
        claimed_by: UUID,
    ) -> Device | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            _CLAIM,
            {
                "tenant_id": tenant_id,
                "code": pairing_code,
                "name": name,
                "groups": list(groups),
                "timezone": timezone,
                "claimed_by": claimed_by,
            },
        )
        row = await cur.fetchone()
        return None if row is None else _device(row)

    async def get(
        self, tenant_id: UUID, device_id: UUID, *, for_update: bool = False
    ) -> Device | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            _GET_FOR_UPDATE if for_update else _GET, {"tenant_id": tenant_id, "id": device_id}
        )
        row = await cur.fetchone()
        return None if row is None else _device(row)

    async def page(
        self, tenant_id: UUID, page: PageRequest[ByName], filters: DeviceFilter | None = None
    ) -> list[Device]:
        query, params = _BY_NAME.page(_PAGE, page.after)
        f = filters or DeviceFilter()
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            query,
            {
                "tenant_id": tenant_id,
                "limit": page.fetch,
                "group": f.group,
                "offline_s": None if f.offline_for_min is None else f.offline_for_min * 60.0,
                "below": f.app_version_below,
                **params,
            },
        )
        return [_device(row) for row in await cur.fetchall()]

    async def many_for_update(self, tenant_id: UUID, device_ids: Sequence[UUID]) -> list[Device]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_MANY_FOR_UPDATE, {"tenant_id": tenant_id, "ids": list(device_ids)})
        return [_device(row) for row in await cur.fetchall()]

    async def revoke_many(self, tenant_id: UUID, device_ids: Sequence[UUID]) -> list[Device]:
        if not device_ids:
            return []
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_REVOKE_MANY, {"tenant_id": tenant_id, "ids": list(device_ids)})
        return [_device(row) for row in await cur.fetchall()]

    async def delete(self, tenant_id: UUID, device_id: UUID) -> Device | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_DELETE, {"tenant_id": tenant_id, "id": device_id})
        row = await cur.fetchone()
        return None if row is None else _device(row)

    async def update(
        self,
        tenant_id: UUID,
        device_id: UUID,
        *,
        name: str | None = None,
        groups: tuple[str, ...] | None = None,
        timezone: str | None = None,
    ) -> Device:
        return await self._one(
            _UPDATE,
            {
                "tenant_id": tenant_id,
                "id": device_id,
                "name": name,
                "groups": None if groups is None else list(groups),
                "timezone": timezone,
            },
        )

    async def revoke(self, tenant_id: UUID, device_id: UUID) -> Device:
        return await self._one(_REVOKE, {"tenant_id": tenant_id, "id": device_id})

    async def set_secret(
        self, tenant_id: UUID, device_id: UUID, secret_hash: bytes
    ) -> tuple[Device, bytes]:
        cur = self._conn.cursor(row_factory=dict_row)
        try:
            await cur.execute(
                _ROTATE_HASH, {"tenant_id": tenant_id, "id": device_id, "hash": secret_hash}
            )
        except errors.UniqueViolation:  # pragma: no cover - 256-bit collision
            raise RuntimeError("device secret collision") from None
        row = await cur.fetchone()
        if row is None:
            raise NotFound("no such device")
        old = bytes(row.pop("old_secret_hash"))
        return _device(row), old

    async def session_grants(
        self, tenant_id: UUID, device_ids: Sequence[UUID]
    ) -> Sequence[SessionGrant]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_SESSION_GRANTS, {"tenant_id": tenant_id, "ids": list(device_ids)})
        rows = await cur.fetchall()
        return [msgspec.convert(_grouped(row), SessionGrant) for row in rows]

    async def record_last_seen(self, seen: Sequence[tuple[UUID, datetime, str]]) -> int:
        if not seen:
            return 0
        ids, ats, nodes = zip(*seen, strict=True)
        cur = await self._conn.execute(
            _LAST_SEEN, {"ids": list(ids), "ats": list(ats), "nodes": list(nodes)}
        )
        return cur.rowcount

    async def _one(self, query: str, params: dict[str, Any]) -> Device:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(query, params)
        row = await cur.fetchone()
        if row is None:
            raise NotFound("no such device")
        return _device(row)
