"""SQL for the cluster's node table (platform-level)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec
from psycopg import sql
from psycopg.rows import dict_row

from actors.pagination import ByStart, PageRequest
from actors.ports.nodes import NodeInfo
from store.db import Connection
from store.keyset import Keyset

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

_NEWEST_FIRST = Keyset("started_at", "node_id", descending=True)
_PAGE = sql.SQL("""
SELECT node_id, started_at, last_seen_at, sessions, stopped_at
FROM nodes WHERE true{after}
ORDER BY {order_by}
LIMIT %(limit)s
""")


class NodeRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def heartbeat(self, node_id: str, started_at: datetime, sessions: int) -> None:
        await self._conn.execute(
            _HEARTBEAT, {"node_id": node_id, "started_at": started_at, "sessions": sessions}
        )

    async def stopped(self, node_id: str) -> None:
        await self._conn.execute(_STOPPED, {"node_id": node_id})

    async def page(self, page: PageRequest[ByStart]) -> Sequence[NodeInfo]:
        query, params = _NEWEST_FIRST.page(_PAGE, page.after)
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(query, {"limit": page.fetch, **params})
        return [msgspec.convert(row, NodeInfo) for row in await cur.fetchall()]
