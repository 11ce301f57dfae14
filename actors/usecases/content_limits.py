"""What one tenant's editors may make every node build, store and push (issue 14, M2).

Content is small one item at a time; the limits are on what adds up: the content items a
tenant keeps (not archived), the bytes of media files it has uploaded, and the text and
HTML one playlist sends to each screen that plays it. A manifest's own encoded size is
capped too (``MANIFEST_MAX_BYTES``, :class:`~actors.usecases.manifests.ManifestSizeGuard`).
Each is checked in the transaction of the write that would pass it, and the answer names
the limit and its setting.
"""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

import msgspec

from actors.errors import Conflict, Invalid
from actors.ports.uow import Tx
from actors.settings import ContentSettings


class ContentLimits(msgspec.Struct, frozen=True, kw_only=True):
    max_items: int
    media_quota_bytes: int
    playlist_max_body_bytes: int

    @classmethod
    def from_settings(cls, content: ContentSettings) -> ContentLimits:
        return cls(
            max_items=content.max_items,
            media_quota_bytes=content.media_quota_bytes,
            playlist_max_body_bytes=content.playlist_max_body_bytes,
        )


async def check_playlist_bodies(
    tx: Tx, tenant_id: UUID, playlist_ids: Collection[UUID], limit: int, *, field: str | None
) -> None:
    """Refuse if one of ``playlist_ids`` would play more than ``limit`` bytes of bodies
    (as ``tx`` sees them, its own writes included).

    :raises Invalid: (422, naming ``field``) when the request's own list is at fault.
    :raises Conflict: (409) when ``field`` is ``None`` (a change elsewhere, e.g. approving
        a longer body, would make a playlist pass its limit).
    """
    totals = await tx.content.playlist_body_bytes(tenant_id, playlist_ids)
    over = {playlist: total for playlist, total in totals.items() if total > limit}
    if not over:
        return
    playlist, total = max(over.items(), key=lambda kv: kv[1])
    detail = (
        f"playlist {playlist} would play {total} bytes of text and HTML bodies, over its"
        f" limit of {limit} bytes (PLAYLIST_MAX_BODY_BYTES)"
    )
    if field is not None:
        raise Invalid(detail, field=field)
    raise Conflict(detail)
