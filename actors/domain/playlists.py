"""Playlists as stored and as admins see them: a name and ordered items.

What a playlist *plays* is decided when a manifest is planned
(:func:`actors.domain.manifest_plan.plan_manifest`): only items whose content has a live,
currently valid revision. Saving a playlist additionally requires every item's content to
have been approved and not archived (the use case checks it against the store).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from actors.domain.manifest_plan import Playlist, PlaylistItem

PlaylistName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^(?=.*\S)[^\x00-\x1f\x7f]+$")
]


class PlaylistRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    name: str
    items: tuple[PlaylistItem, ...]
    created_by: UUID
    created_at: datetime
    updated_at: datetime

    @property
    def ref(self) -> str:
        """How audit entries name it."""
        return f"playlist:{self.id}"

    @property
    def plan(self) -> Playlist:
        """The playlist as the manifest planner sees it."""
        return Playlist(id=self.id, items=self.items)
