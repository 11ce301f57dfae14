"""SQL for fleet health (the screens' reported status) and remote commands.

The two batched writes (statuses, command answers) run in platform scope, one statement
for every tenant's screens, and keep only rows that name a device of the tenant they
claim: a batch never fails because a screen was deleted meanwhile, and a screen can only
ever answer its own commands.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import msgspec
from psycopg.rows import dict_row

from actors.domain.fleet import (
    CommandAnswer,
    CommandName,
    DeviceCommand,
    DeviceHealth,
    StatusReport,
)
from store.db import Connection

# A newer status replaces an older one; an older one (a retried batch) changes nothing.
_RECORD_HEALTH = """
INSERT INTO device_health (device_id, tenant_id, reported_at, node_id, app_version, uptime_s,
                           display_on, free_storage_bytes, last_error, playing,
                           manifest_version)
SELECT v.device_id, v.tenant_id, v.reported_at, v.node_id, v.app_version, v.uptime_s,
       v.display_on, v.free_storage_bytes, v.last_error, v.playing, v.manifest_version
FROM unnest(%(devices)s::uuid[], %(tenants)s::uuid[], %(ats)s::timestamptz[],
            %(nodes)s::text[], %(versions)s::text[], %(uptimes)s::float8[],
            %(displays)s::boolean[], %(storage)s::bigint[], %(errors)s::text[],
            %(playing)s::text[], %(manifests)s::bigint[])
     AS v(device_id, tenant_id, reported_at, node_id, app_version, uptime_s, display_on,
          free_storage_bytes, last_error, playing, manifest_version)
JOIN devices d ON d.id = v.device_id AND d.tenant_id = v.tenant_id
ON CONFLICT (device_id) DO UPDATE
SET reported_at = excluded.reported_at, node_id = excluded.node_id,
    app_version = excluded.app_version, uptime_s = excluded.uptime_s,
    display_on = excluded.display_on, free_storage_bytes = excluded.free_storage_bytes,
    last_error = excluded.last_error, playing = excluded.playing,
    manifest_version = excluded.manifest_version
WHERE device_health.reported_at < excluded.reported_at
"""

_HEALTH = """
SELECT device_id, reported_at, node_id, app_version, uptime_s, display_on,
       free_storage_bytes, last_error, playing, manifest_version
FROM device_health
WHERE tenant_id = %(tenant_id)s AND device_id = ANY(%(ids)s::uuid[])
"""

# Every query that returns a command lists the same columns (those of ``DeviceCommand``);
# a 'sent' command past its expiry reads as 'expired'.
_OPEN_COMMANDS = """
SELECT count(*) FROM device_commands
WHERE tenant_id = %(tenant_id)s AND device_id = %(device_id)s
  AND state = 'sent' AND expires_at > now()
"""

_ADD_COMMAND = """
INSERT INTO device_commands (id, tenant_id, device_id, name, issued_by, expires_at)
VALUES (%(id)s, %(tenant_id)s, %(device_id)s, %(name)s, %(issued_by)s,
        now() + make_interval(secs => %(ttl_s)s))
RETURNING id, device_id, name,
       CASE WHEN state = 'sent' AND expires_at <= now() THEN 'expired' ELSE state END AS state,
       issued_by, issued_at, expires_at, answered_at, detail
"""

_TRIM_COMMANDS = """
DELETE FROM device_commands
WHERE tenant_id = %(tenant_id)s AND device_id = %(device_id)s
  AND id NOT IN (
      SELECT id FROM device_commands
      WHERE tenant_id = %(tenant_id)s AND device_id = %(device_id)s
      ORDER BY issued_at DESC, id DESC
      LIMIT %(keep)s
  )
"""

_COMMANDS = """
SELECT id, device_id, name,
       CASE WHEN state = 'sent' AND expires_at <= now() THEN 'expired' ELSE state END AS state,
       issued_by, issued_at, expires_at, answered_at, detail
FROM device_commands
WHERE tenant_id = %(tenant_id)s AND device_id = %(device_id)s
ORDER BY issued_at DESC, id DESC
LIMIT %(limit)s
"""

# Only the device the command was sent to may answer it, once, before it expires.
_RECORD_ANSWERS = """
UPDATE device_commands AS c
SET state = v.result, detail = v.detail, answered_at = v.at, answered_node = v.node_id
FROM unnest(%(ids)s::uuid[], %(tenants)s::uuid[], %(devices)s::uuid[], %(results)s::text[],
            %(details)s::text[], %(ats)s::timestamptz[], %(nodes)s::text[])
     AS v(id, tenant_id, device_id, result, detail, at, node_id)
WHERE c.id = v.id AND c.tenant_id = v.tenant_id AND c.device_id = v.device_id
  AND c.state = 'sent' AND c.expires_at > v.at
"""


def _command(row: dict[str, Any]) -> DeviceCommand:
    return msgspec.convert(row, DeviceCommand)


class FleetRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def record_health(self, reports: Sequence[StatusReport]) -> int:
        if not reports:
            return 0
        health = [r.health for r in reports]
        cur = await self._conn.execute(
            _RECORD_HEALTH,
            {
                "devices": [r.device_id for r in reports],
                "tenants": [r.tenant_id for r in reports],
                "ats": [h.reported_at for h in health],
                "nodes": [h.node_id for h in health],
                "versions": [h.app_version for h in health],
                "uptimes": [h.uptime_s for h in health],
                "displays": [h.display_on for h in health],
                "storage": [h.free_storage_bytes for h in health],
                "errors": [h.last_error for h in health],
                "playing": [h.playing for h in health],
                "manifests": [h.manifest_version for h in health],
            },
        )
        return cur.rowcount

    async def health(self, tenant_id: UUID, device_ids: Sequence[UUID]) -> dict[UUID, DeviceHealth]:
        if not device_ids:
            return {}
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_HEALTH, {"tenant_id": tenant_id, "ids": list(device_ids)})
        found: dict[UUID, DeviceHealth] = {}
        for row in await cur.fetchall():
            device_id = row.pop("device_id")
            found[device_id] = msgspec.convert(row, DeviceHealth)
        return found

    async def open_commands(self, tenant_id: UUID, device_id: UUID) -> int:
        cur = await self._conn.execute(
            _OPEN_COMMANDS, {"tenant_id": tenant_id, "device_id": device_id}
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])

    async def add_command(
        self,
        *,
        command_id: UUID,
        tenant_id: UUID,
        device_id: UUID,
        name: CommandName,
        issued_by: str,
        ttl_s: int,
        keep: int,
    ) -> DeviceCommand:
        """Store a ``sent`` command, and delete the device's commands beyond the ``keep``
        newest."""
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            _ADD_COMMAND,
            {
                "id": command_id,
                "tenant_id": tenant_id,
                "device_id": device_id,
                "name": name,
                "issued_by": issued_by,
                "ttl_s": ttl_s,
            },
        )
        row = await cur.fetchone()
        assert row is not None
        await self._conn.execute(
            _TRIM_COMMANDS, {"tenant_id": tenant_id, "device_id": device_id, "keep": keep}
        )
        return _command(row)

    async def commands(self, tenant_id: UUID, device_id: UUID, limit: int) -> list[DeviceCommand]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            _COMMANDS, {"tenant_id": tenant_id, "device_id": device_id, "limit": limit}
        )
        return [_command(row) for row in await cur.fetchall()]

    async def record_answers(self, answers: Sequence[CommandAnswer]) -> int:
        if not answers:
            return 0
        cur = await self._conn.execute(
            _RECORD_ANSWERS,
            {
                "ids": [a.command_id for a in answers],
                "tenants": [a.tenant_id for a in answers],
                "devices": [a.device_id for a in answers],
                "results": [a.result for a in answers],
                "details": [a.detail for a in answers],
                "ats": [a.at for a in answers],
                "nodes": [a.node_id for a in answers],
            },
        )
        return cur.rowcount
