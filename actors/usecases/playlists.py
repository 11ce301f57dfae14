"""Playlists: ordered approved content with per-item durations.

Saving checks every item against the store: its content must exist in the tenant and
have an approved revision that is not archived (SPEC §5.5). What plays is still decided
when a manifest is planned: content archived or expired later simply drops out. Saving a
playlist that schedules play refreshes the manifests of the devices those schedules reach.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID, uuid4

import msgspec

from actors.domain.content_lifecycle import ContentState
from actors.domain.manifest_batch import DeviceScope
from actors.domain.manifest_plan import (
    PLAYLIST_MAX_ITEMS,
    Playlist,
    PlaylistItem,
    validate_playlist,
)
from actors.domain.playlists import PlaylistName, PlaylistRecord
from actors.domain.principal import Principal
from actors.domain.rbac import Permission, authorize
from actors.errors import Conflict, Invalid, NotFound
from actors.pagination import ByName, Page, PageRequest, Paging
from actors.ports.manifests import ManifestRefresh
from actors.ports.uow import Tx, UnitOfWork
from actors.settings import Settings
from actors.usecases.content_limits import check_playlist_bodies
from actors.usecases.manifests import ManifestSizeGuard

#: Groups and devices a refresh scope names before it becomes "every device".
MAX_NAMED = 1024


class SavePlaylist(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: PlaylistName
    items: Annotated[list[PlaylistItem], msgspec.Meta(max_length=PLAYLIST_MAX_ITEMS)]


class PlaylistQuery(Paging, frozen=True, forbid_unknown_fields=True):
    """``GET .../playlists?limit=&cursor=``: by name."""


class PlaylistList(msgspec.Struct, frozen=True):
    items: list[PlaylistRecord]
    #: The cursor of the next page; ``null`` on the last one.
    next_cursor: str | None = None


class Playlists:
    def __init__(self, uow: UnitOfWork, refresh: ManifestRefresh, settings: Settings) -> None:
        self._uow = uow
        self._refresh = refresh
        self._max_body_bytes = settings.content.playlist_max_body_bytes
        self._manifest_sizes = ManifestSizeGuard.from_settings(settings)

    async def create(self, who: Principal, tenant_id: UUID, cmd: SavePlaylist) -> PlaylistRecord:
        """:raises Invalid: (422) for unknown content, or items whose bodies pass
        ``PLAYLIST_MAX_BODY_BYTES``; :raises Conflict: (409) for content without an
        approved, unarchived revision."""
        authorize(who, Permission.PLAYLIST_EDIT, tenant_id)
        playlist_id = uuid4()
        validate_playlist(Playlist(id=playlist_id, items=tuple(cmd.items)))
        async with self._uow.tenant(tenant_id) as tx:
            await _check_items(tx, tenant_id, cmd.items)
            record = await tx.playlists.create(
                tenant_id, playlist_id, name=cmd.name, items=cmd.items, created_by=who.user_id
            )
            await check_playlist_bodies(
                tx, tenant_id, [playlist_id], self._max_body_bytes, field="items"
            )
            await tx.audit.append(
                tenant_id, who, "playlist.create", target=record.ref, after=record
            )
        return record

    async def replace(
        self, who: Principal, tenant_id: UUID, playlist_id: UUID, cmd: SavePlaylist
    ) -> PlaylistRecord:
        """Replace the name and every item (the order is the list's).

        :raises Invalid: (422) as :meth:`create`.
        :raises Conflict: (409) as :meth:`create`, or if a manifest of a device that plays
            the playlist would pass ``MANIFEST_MAX_BYTES``.
        """
        authorize(who, Permission.PLAYLIST_EDIT, tenant_id)
        validate_playlist(Playlist(id=playlist_id, items=tuple(cmd.items)))
        async with self._uow.tenant(tenant_id) as tx:
            before = await tx.playlists.get(tenant_id, playlist_id, for_update=True)
            if before is None:
                raise NotFound("no such playlist")
            if before.name == cmd.name and before.items == tuple(cmd.items):
                return before
            await _check_items(tx, tenant_id, cmd.items)
            after = await tx.playlists.replace(
                tenant_id, playlist_id, name=cmd.name, items=cmd.items
            )
            scope = DeviceScope()
            if before.items != after.items:
                await check_playlist_bodies(
                    tx, tenant_id, [playlist_id], self._max_body_bytes, field="items"
                )
                targets = await tx.schedules.targets_of_playlists(tenant_id, [playlist_id])
                scope = DeviceScope.reached_by(targets, max_named=MAX_NAMED)
                await self._manifest_sizes.check(tx, tenant_id, scope)
            await tx.audit.append(
                tenant_id, who, "playlist.update", target=after.ref, before=before, after=after
            )
        self._refresh.refresh(tenant_id, scope)
        return after

    async def delete(self, who: Principal, tenant_id: UUID, playlist_id: UUID) -> None:
        """:raises Conflict: (409) while a schedule plays it."""
        authorize(who, Permission.PLAYLIST_EDIT, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            before = await tx.playlists.get(tenant_id, playlist_id, for_update=True)
            if before is None:
                raise NotFound("no such playlist")
            await tx.playlists.delete(tenant_id, playlist_id)
            await tx.audit.append(
                tenant_id, who, "playlist.delete", target=before.ref, before=before
            )

    async def get(self, who: Principal, tenant_id: UUID, playlist_id: UUID) -> PlaylistRecord:
        authorize(who, Permission.CONTENT_READ, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            record = await tx.playlists.get(tenant_id, playlist_id)
        if record is None:
            raise NotFound("no such playlist")
        return record

    async def list(
        self, who: Principal, tenant_id: UUID, page: PageRequest[ByName]
    ) -> Page[PlaylistRecord, ByName]:
        """One page of the tenant's playlists, by name."""
        authorize(who, Permission.CONTENT_READ, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            rows = await tx.playlists.page(tenant_id, page)
        return page.page(rows, lambda p: ByName(p.name, p.id))


async def _check_items(tx: Tx, tenant_id: UUID, items: list[PlaylistItem]) -> None:
    found = await tx.content.lifecycles(tenant_id, {item.content_id for item in items})
    for index, item in enumerate(items):
        state = found.get(item.content_id)
        if state is None:
            raise Invalid("no such content", field=f"items[{index}].content_id")
        if state.live_revision is None or state.state == ContentState.ARCHIVED:
            raise Conflict(
                f"content {item.content_id} (items[{index}]) has no approved revision to play"
            )
