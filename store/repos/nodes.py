"""SQL for the cluster's node table (platform-level)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec
from psycopg.rows import dict_row

from actors.ports import NodeInfo
from store.db import Connection

_HEARTBEAT = """
INSERT INTO nodes (node_id, started_at, last_seen_at, sessions)
VALUES (%(node_id)s, %(started_at)s, now(), %(sessions)s)
ON CONFLICT (node_id) DO UPDATE
SET started_at = excluded.started_at, last_seen_at = now(), sessions = excluded.sessions,
    stopped_at = NULL
"""

_STOPPED = """
UPDATE nodes SET stopped_at = now(), sessions = 0, last_seen_at = now()
WHERE node_id = %(node_id)s
"""

_ALL = """
SELECT node_id, started_at, last_seen_at, sessions, stopped_at
FROM nodes ORDER BY last_seen_at DESC, node_id
"""


class NodeRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def heartbeat(self, node_id: str, started_at: datetime, sessions: int) -> None:
        await self._conn.execute(
            _HEARTBEAT, {"node_id": node_id, "started_at": started_at, "sessions": sessions}
        )

    async def stopped(self, node_id: str) -> None:
        await self._conn.execute(_STOPPED, {"node_id": node_id})

    async def all(self) -> Sequence[NodeInfo]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_ALL)
        return [msgspec.convert(row, NodeInfo) for row in await cur.fetchall()]
