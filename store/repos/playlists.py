"""SQL for playlists and their items (sql/0021_playlists_schedules.sql)."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Sequence
from typing import Any
from uuid import UUID

from psycopg import errors, sql
from psycopg.rows import dict_row

from actors.domain.manifest_plan import Playlist, PlaylistItem
from actors.domain.playlists import PlaylistRecord
from actors.errors import Conflict, NotFound
from actors.pagination import ByName, PageRequest
from store.db import Connection
from store.keyset import Keyset

_INSERT = """
INSERT INTO playlists (id, tenant_id, name, created_by)
VALUES (%(id)s, %(tenant_id)s, %(name)s, %(created_by)s)
"""

_RENAME = """
UPDATE playlists SET name = %(name)s, updated_at = now()
WHERE tenant_id = %(tenant_id)s AND id = %(id)s
"""

_CLEAR_ITEMS = "DELETE FROM playlist_items WHERE tenant_id = %(tenant_id)s AND playlist_id = %(id)s"

# One statement for all items: positions are their order in the arrays.
_INSERT_ITEMS = """
INSERT INTO playlist_items (tenant_id, playlist_id, position, content_id, duration_s)
SELECT %(tenant_id)s, %(id)s, item.ord - 1, item.content_id, item.duration_s
FROM unnest(%(content_ids)s::uuid[], %(durations)s::integer[])
     WITH ORDINALITY AS item(content_id, duration_s, ord)
"""

# A playlist with its items in order (an empty playlist has one row of NULL items).
_SELECT = """
SELECT p.id, p.name, p.created_by, p.created_at, p.updated_at,
       i.content_id, i.duration_s
FROM playlists p
LEFT JOIN playlist_items i ON i.tenant_id = p.tenant_id AND i.playlist_id = p.id
"""

_GET = _SELECT + "WHERE p.tenant_id = %(tenant_id)s AND p.id = %(id)s ORDER BY i.position"
_LOCK = "SELECT 1 FROM playlists WHERE tenant_id = %(tenant_id)s AND id = %(id)s FOR UPDATE"
_LIST = _SELECT + "WHERE p.tenant_id = %(tenant_id)s ORDER BY p.name, p.id, i.position"
_BY_NAME = Keyset("p.name", "p.id")
# The page is chosen among playlists, then their items joined (a page is never cut
# inside a playlist).
_PAGE = sql.SQL("""
WITH page AS (
    SELECT p.id, p.tenant_id, p.name, p.created_by, p.created_at, p.updated_at
    FROM playlists p
    WHERE p.tenant_id = %(tenant_id)s{after}
    ORDER BY {order_by}
    LIMIT %(limit)s
)
SELECT page.id, page.name, page.created_by, page.created_at, page.updated_at,
       i.content_id, i.duration_s
FROM page
LEFT JOIN playlist_items i ON i.tenant_id = page.tenant_id AND i.playlist_id = page.id
ORDER BY page.name, page.id, i.position
""")
_FOR_PLANNING = (
    _SELECT + "WHERE p.tenant_id = %(tenant_id)s AND p.id = ANY(%(ids)s::uuid[])"
    " ORDER BY p.id, i.position"
)

_DELETE = "DELETE FROM playlists WHERE tenant_id = %(tenant_id)s AND id = %(id)s"

_CONTAINING = """
SELECT DISTINCT playlist_id FROM playlist_items
WHERE tenant_id = %(tenant_id)s AND content_id = %(content_id)s
"""


def _records(rows: Sequence[dict[str, Any]]) -> list[PlaylistRecord]:
    """Fold item rows (grouped by playlist, in position order) into records."""
    records: list[PlaylistRecord] = []
    head: dict[str, Any] | None = None
    items: list[PlaylistItem] = []
    for row in rows:
        if head is None or head["id"] != row["id"]:
            if head is not None:
                records.append(_record(head, items))
            head, items = row, []
        if row["content_id"] is not None:
            items.append(PlaylistItem(row["content_id"], row["duration_s"]))
    if head is not None:
        records.append(_record(head, items))
    return records


def _record(head: dict[str, Any], items: list[PlaylistItem]) -> PlaylistRecord:
    return PlaylistRecord(
        id=head["id"],
        name=head["name"],
        items=tuple(items),
        created_by=head["created_by"],
        created_at=head["created_at"],
        updated_at=head["updated_at"],
    )


class PlaylistRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def create(
        self,
        tenant_id: UUID,
        playlist_id: UUID,
        *,
        name: str,
        items: Sequence[PlaylistItem],
        created_by: UUID,
    ) -> PlaylistRecord:
        params = {"tenant_id": tenant_id, "id": playlist_id}
        await self._conn.execute(_INSERT, {**params, "name": name, "created_by": created_by})
        await self._insert_items(tenant_id, playlist_id, items)
        found = await self.get(tenant_id, playlist_id)
        assert found is not None
        return found

    async def get(
        self, tenant_id: UUID, playlist_id: UUID, *, for_update: bool = False
    ) -> PlaylistRecord | None:
        params = {"tenant_id": tenant_id, "id": playlist_id}
        if for_update:
            cur = await self._conn.execute(_LOCK, params)
            if await cur.fetchone() is None:
                return None
        rows = await self._rows(_GET, params)
        records = _records(rows)
        return records[0] if records else None

    async def list(self, tenant_id: UUID) -> list[PlaylistRecord]:
        return _records(await self._rows(_LIST, {"tenant_id": tenant_id}))

    async def page(
        self, tenant_id: UUID, page: PageRequest[ByName]
    ) -> builtins.list[PlaylistRecord]:
        query, params = _BY_NAME.page(_PAGE, page.after)
        return _records(
            await self._rows(query, {"tenant_id": tenant_id, "limit": page.fetch, **params})
        )

    async def replace(
        self, tenant_id: UUID, playlist_id: UUID, *, name: str, items: Sequence[PlaylistItem]
    ) -> PlaylistRecord:
        params = {"tenant_id": tenant_id, "id": playlist_id}
        cur = await self._conn.execute(_RENAME, {**params, "name": name})
        if cur.rowcount != 1:
            raise NotFound("no such playlist")
        await self._conn.execute(_CLEAR_ITEMS, params)
        await self._insert_items(tenant_id, playlist_id, items)
        found = await self.get(tenant_id, playlist_id)
        assert found is not None
        return found

    async def delete(self, tenant_id: UUID, playlist_id: UUID) -> None:
        try:
            async with self._conn.transaction():  # a savepoint: the caller's tx survives
                await self._conn.execute(_DELETE, {"tenant_id": tenant_id, "id": playlist_id})
        except errors.ForeignKeyViolation:
            raise Conflict("the playlist is scheduled: delete its schedules first") from None

    async def for_planning(
        self, tenant_id: UUID, playlist_ids: Collection[UUID]
    ) -> dict[UUID, Playlist]:
        if not playlist_ids:
            return {}
        rows = await self._rows(_FOR_PLANNING, {"tenant_id": tenant_id, "ids": list(playlist_ids)})
        return {record.id: record.plan for record in _records(rows)}

    async def containing(self, tenant_id: UUID, content_id: UUID) -> builtins.list[UUID]:
        cur = await self._conn.execute(
            _CONTAINING, {"tenant_id": tenant_id, "content_id": content_id}
        )
        return [row[0] for row in await cur.fetchall()]

    async def _insert_items(
        self, tenant_id: UUID, playlist_id: UUID, items: Sequence[PlaylistItem]
    ) -> None:
        if not items:
            return
        await self._conn.execute(
            _INSERT_ITEMS,
            {
                "tenant_id": tenant_id,
                "id": playlist_id,
                "content_ids": [item.content_id for item in items],
                "durations": [item.duration_s for item in items],
            },
        )

    async def _rows(
        self, query: str | sql.Composed, params: dict[str, Any]
    ) -> builtins.list[dict[str, Any]]:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(query, params)
        return await cur.fetchall()
