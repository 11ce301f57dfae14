"""SQL for content items and their revisions (sql/0020_content.sql)."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Mapping
from typing import Any
from uuid import UUID

import msgspec
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from actors.domain.content_items import ContentItem, RevisionRecord
from actors.domain.content_lifecycle import ContentLifecycle, ContentState
from actors.domain.content_types import ContentKind, ContentRevision
from actors.domain.manifest_plan import ContentSnapshot
from actors.pagination import ByCreation, BySeq, PageRequest
from store.db import Connection
from store.keyset import Keyset

_INSERT_ITEM = """
INSERT INTO content (id, tenant_id, kind, state, revision, live_revision, submitted_by,
                     metadata, created_by, created_at, updated_at)
VALUES (%(id)s, %(tenant_id)s, %(kind)s, %(state)s, %(revision)s, %(live_revision)s,
        %(submitted_by)s, %(metadata)s, %(created_by)s, now(), now())
RETURNING created_at
"""

_INSERT_REVISION = """
INSERT INTO content_revisions (tenant_id, content_id, number, kind, name, duration_s,
                               valid_from, valid_until, uri, body, media_sha256, media_type,
                               media_size, created_by)
VALUES (%(tenant_id)s, %(content_id)s, %(number)s, %(kind)s, %(name)s, %(duration_s)s,
        %(valid_from)s, %(valid_until)s, %(uri)s, %(body)s, %(media_sha256)s, %(media_type)s,
        %(media_size)s, %(author)s)
"""

# Only an undecided, unsubmitted revision (the working draft) is ever overwritten.
_UPDATE_REVISION = """
UPDATE content_revisions
SET name = %(name)s, duration_s = %(duration_s)s, valid_from = %(valid_from)s,
    valid_until = %(valid_until)s, uri = %(uri)s, body = %(body)s,
    media_sha256 = %(media_sha256)s, media_type = %(media_type)s, media_size = %(media_size)s,
    updated_at = now()
WHERE tenant_id = %(tenant_id)s AND content_id = %(content_id)s AND number = %(number)s
  AND decision IS NULL AND submitted_by IS NULL
"""

# The item with its working revision; every reader of ContentItem uses these columns.
_SELECT = """
SELECT c.id, c.tenant_id, c.state, c.revision, c.live_revision, c.submitted_by, c.metadata,
       c.created_by, c.created_at, c.updated_at,
       r.kind, r.name, r.duration_s, r.valid_from, r.valid_until, r.uri, r.body,
       r.media_sha256, r.media_type, r.media_size, r.reason
FROM content c
JOIN content_revisions r
  ON r.tenant_id = c.tenant_id AND r.content_id = c.id AND r.number = c.revision
"""

_GET = _SELECT + "WHERE c.tenant_id = %(tenant_id)s AND c.id = %(id)s"
_GET_FOR_UPDATE = _GET + " FOR UPDATE OF c"

_NEWEST_FIRST = Keyset("c.created_at", "c.id", descending=True)
_PAGE = sql.SQL(
    _SELECT
    + """WHERE c.tenant_id = %(tenant_id)s AND (%(state)s::text IS NULL OR c.state = %(state)s)
{after}
ORDER BY {order_by}
LIMIT %(limit)s OFFSET %(offset)s"""
)

_SAVE_LIFECYCLE = """
UPDATE content
SET state = %(state)s, revision = %(revision)s, live_revision = %(live_revision)s,
    submitted_by = %(submitted_by)s, updated_at = now()
WHERE tenant_id = %(tenant_id)s AND id = %(id)s
"""

_SAVE_METADATA = """
UPDATE content SET metadata = %(metadata)s, updated_at = now()
WHERE tenant_id = %(tenant_id)s AND id = %(id)s
"""

_SUBMISSION = """
UPDATE content_revisions
SET submitted_by = %(by)s, submitted_at = CASE WHEN %(by)s::uuid IS NULL THEN NULL ELSE now() END
WHERE tenant_id = %(tenant_id)s AND content_id = %(content_id)s AND number = %(number)s
"""

_DECISION = """
UPDATE content_revisions
SET decision = %(decision)s, decided_by = %(by)s, decided_at = now(), reason = %(reason)s
WHERE tenant_id = %(tenant_id)s AND content_id = %(content_id)s AND number = %(number)s
"""

_NEWEST_REVISION_FIRST = Keyset("number", descending=True)
_REVISIONS = sql.SQL("""
SELECT number, name, duration_s, valid_from, valid_until, uri, char_length(body) AS body_chars,
       media_sha256, media_type, created_by, created_at, submitted_by, submitted_at,
       decision, decided_by, decided_at, reason
FROM content_revisions
WHERE tenant_id = %(tenant_id)s AND content_id = %(content_id)s{after}
ORDER BY {order_by}
LIMIT %(limit)s
""")

_LIFECYCLES = """
SELECT id, state, revision, live_revision, submitted_by
FROM content WHERE tenant_id = %(tenant_id)s AND id = ANY(%(ids)s::uuid[])
"""

# The live revision of each item (LEFT JOIN: items without one still report their state).
_SNAPSHOTS = """
SELECT c.id, c.state, c.revision, c.live_revision, c.submitted_by,
       r.kind, r.name, r.duration_s, r.valid_from, r.valid_until, r.uri, r.body,
       r.media_sha256, r.media_type
FROM content c
LEFT JOIN content_revisions r
  ON r.tenant_id = c.tenant_id AND r.content_id = c.id AND r.number = c.live_revision
WHERE c.tenant_id = %(tenant_id)s AND c.id = ANY(%(ids)s::uuid[])
"""


# -- the tenant's quotas (sql/0020): counted where the rows are, serialised per tenant -----

#: First key of the per-tenant advisory lock that orders quota checks (the second is the
#: tenant id's hash): two concurrent creates or uploads cannot both pass the last slot.
_QUOTA_LOCK_SPACE = 0x5160_0001
_LOCK_QUOTA = "SELECT pg_advisory_xact_lock(%(space)s, hashtext(%(tenant_id)s::text))"

_COUNT_LIVE = """
SELECT count(*) FROM content WHERE tenant_id = %(tenant_id)s AND state <> 'archived'
"""

# Files are stored once per tenant and hash (store/media.py): count each hash once.
_MEDIA_USAGE = """
SELECT coalesce(sum(size), 0)::bigint, coalesce(bool_or(sha256 = %(sha256)s), false)
FROM (SELECT DISTINCT ON (media_sha256) media_sha256 AS sha256, media_size AS size
      FROM content_revisions
      WHERE tenant_id = %(tenant_id)s AND media_sha256 IS NOT NULL) AS files
"""

# What a screen playing the playlist is sent as text: each item's live body, once.
_PLAYLIST_BODY_BYTES = """
SELECT i.playlist_id, coalesce(sum(octet_length(r.body)), 0)::bigint
FROM (SELECT DISTINCT playlist_id, content_id FROM playlist_items
      WHERE tenant_id = %(tenant_id)s AND playlist_id = ANY(%(ids)s::uuid[])) AS i
JOIN content c ON c.tenant_id = %(tenant_id)s AND c.id = i.content_id
JOIN content_revisions r
  ON r.tenant_id = c.tenant_id AND r.content_id = c.id AND r.number = c.live_revision
GROUP BY i.playlist_id
"""


def _lifecycle(row: Mapping[str, Any]) -> ContentLifecycle:
    return ContentLifecycle(
        state=ContentState(row["state"]),
        revision=row["revision"],
        live_revision=row["live_revision"],
        submitted_by=row["submitted_by"],
    )


def _revision(row: Mapping[str, Any], number: int) -> ContentRevision:
    return ContentRevision(
        number=number,
        kind=ContentKind(row["kind"]),
        name=row["name"],
        duration_s=row["duration_s"],
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        uri=row["uri"],
        body=row["body"],
        media_sha256=row["media_sha256"],
        media_type=row["media_type"],
    )


def _item(row: Mapping[str, Any]) -> ContentItem:
    return ContentItem(
        id=row["id"],
        tenant_id=row["tenant_id"],
        lifecycle=_lifecycle(row),
        working=_revision(row, row["revision"]),
        media_size=row["media_size"],
        metadata=dict(row["metadata"]),
        reason=row["reason"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _revision_params(
    tenant_id: UUID, content_id: UUID, revision: ContentRevision
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "content_id": content_id,
        "number": revision.number,
        "kind": revision.kind.value,
        "name": revision.name,
        "duration_s": revision.duration_s,
        "valid_from": revision.valid_from,
        "valid_until": revision.valid_until,
        "uri": revision.uri,
        "body": revision.body,
        "media_sha256": revision.media_sha256,
        "media_type": revision.media_type,
    }


class ContentRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def create(self, item: ContentItem) -> ContentItem:
        lifecycle = item.lifecycle
        cur = await self._conn.execute(
            _INSERT_ITEM,
            {
                "id": item.id,
                "tenant_id": item.tenant_id,
                "kind": item.kind.value,
                "state": lifecycle.state.value,
                "revision": lifecycle.revision,
                "live_revision": lifecycle.live_revision,
                "submitted_by": lifecycle.submitted_by,
                "metadata": Jsonb(item.metadata),
                "created_by": item.created_by,
            },
        )
        row = await cur.fetchone()
        assert row is not None
        await self.write_revision(
            item.tenant_id,
            item.id,
            item.working,
            author=item.created_by,
            media_size=item.media_size,
            new=True,
        )
        return msgspec.structs.replace(item, created_at=row[0], updated_at=row[0])

    async def get(
        self, tenant_id: UUID, content_id: UUID, *, for_update: bool = False
    ) -> ContentItem | None:
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            _GET_FOR_UPDATE if for_update else _GET, {"tenant_id": tenant_id, "id": content_id}
        )
        row = await cur.fetchone()
        return None if row is None else _item(row)

    async def page(
        self,
        tenant_id: UUID,
        page: PageRequest[ByCreation],
        *,
        state: ContentState | None,
        offset: int = 0,
    ) -> builtins.list[ContentItem]:
        query, params = _NEWEST_FIRST.page(_PAGE, page.after)
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            query,
            {
                "tenant_id": tenant_id,
                "state": None if state is None else state.value,
                "limit": page.fetch,
                "offset": offset,
                **params,
            },
        )
        return [_item(row) for row in await cur.fetchall()]

    async def save_lifecycle(
        self, tenant_id: UUID, content_id: UUID, lifecycle: ContentLifecycle
    ) -> None:
        await self._conn.execute(
            _SAVE_LIFECYCLE,
            {
                "tenant_id": tenant_id,
                "id": content_id,
                "state": lifecycle.state.value,
                "revision": lifecycle.revision,
                "live_revision": lifecycle.live_revision,
                "submitted_by": lifecycle.submitted_by,
            },
        )

    async def save_metadata(
        self, tenant_id: UUID, content_id: UUID, metadata: Mapping[str, str]
    ) -> None:
        await self._conn.execute(
            _SAVE_METADATA, {"tenant_id": tenant_id, "id": content_id, "metadata": Jsonb(metadata)}
        )

    async def write_revision(
        self,
        tenant_id: UUID,
        content_id: UUID,
        revision: ContentRevision,
        *,
        author: UUID,
        media_size: int | None,
        new: bool,
    ) -> None:
        params = _revision_params(tenant_id, content_id, revision)
        params["media_size"] = media_size
        if new:
            params["author"] = author
            await self._conn.execute(_INSERT_REVISION, params)
            return
        cur = await self._conn.execute(_UPDATE_REVISION, params)
        if cur.rowcount != 1:
            # The use case holds the item's row lock and checked the state: a miss here
            # is a bug, not a race, and must not pass silently.
            raise RuntimeError(f"revision {revision.number} of {content_id} is not a draft")

    async def record_submission(
        self, tenant_id: UUID, content_id: UUID, number: int, submitted_by: UUID | None
    ) -> None:
        await self._conn.execute(
            _SUBMISSION,
            {
                "tenant_id": tenant_id,
                "content_id": content_id,
                "number": number,
                "by": submitted_by,
            },
        )

    async def record_decision(
        self,
        tenant_id: UUID,
        content_id: UUID,
        number: int,
        *,
        decision: str,
        decided_by: UUID,
        reason: str | None,
    ) -> None:
        await self._conn.execute(
            _DECISION,
            {
                "tenant_id": tenant_id,
                "content_id": content_id,
                "number": number,
                "decision": decision,
                "by": decided_by,
                "reason": reason,
            },
        )

    async def revisions(
        self, tenant_id: UUID, content_id: UUID, page: PageRequest[BySeq]
    ) -> builtins.list[RevisionRecord]:
        query, params = _NEWEST_REVISION_FIRST.page(_REVISIONS, page.after)
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(
            query,
            {"tenant_id": tenant_id, "content_id": content_id, "limit": page.fetch, **params},
        )
        return [msgspec.convert(row, RevisionRecord) for row in await cur.fetchall()]

    async def lifecycles(
        self, tenant_id: UUID, content_ids: Collection[UUID]
    ) -> dict[UUID, ContentLifecycle]:
        if not content_ids:
            return {}
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_LIFECYCLES, {"tenant_id": tenant_id, "ids": list(content_ids)})
        return {row["id"]: _lifecycle(row) for row in await cur.fetchall()}

    async def lock_quotas(self, tenant_id: UUID) -> None:
        await self._conn.execute(_LOCK_QUOTA, {"space": _QUOTA_LOCK_SPACE, "tenant_id": tenant_id})

    async def count_live(self, tenant_id: UUID) -> int:
        cur = await self._conn.execute(_COUNT_LIVE, {"tenant_id": tenant_id})
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def media_usage(self, tenant_id: UUID, sha256: str | None = None) -> tuple[int, bool]:
        cur = await self._conn.execute(_MEDIA_USAGE, {"tenant_id": tenant_id, "sha256": sha256})
        row = await cur.fetchone()
        return (int(row[0]), bool(row[1])) if row else (0, False)

    async def playlist_body_bytes(
        self, tenant_id: UUID, playlist_ids: Collection[UUID]
    ) -> dict[UUID, int]:
        if not playlist_ids:
            return {}
        cur = await self._conn.execute(
            _PLAYLIST_BODY_BYTES, {"tenant_id": tenant_id, "ids": list(playlist_ids)}
        )
        return {row[0]: int(row[1]) for row in await cur.fetchall()}

    async def snapshots(
        self, tenant_id: UUID, content_ids: Collection[UUID]
    ) -> dict[UUID, ContentSnapshot]:
        if not content_ids:
            return {}
        cur = self._conn.cursor(row_factory=dict_row)
        await cur.execute(_SNAPSHOTS, {"tenant_id": tenant_id, "ids": list(content_ids)})
        found: dict[UUID, ContentSnapshot] = {}
        for row in await cur.fetchall():
            live = row["live_revision"]
            found[row["id"]] = ContentSnapshot(
                id=row["id"],
                lifecycle=_lifecycle(row),
                live=None if live is None or row["kind"] is None else _revision(row, live),
            )
        return found
