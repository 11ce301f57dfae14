"""Playlists: ordered approved content with per-item durations (editor)."""

from __future__ import annotations

from uuid import UUID

from quart import Response

from actors.domain.playlists import PlaylistRecord
from actors.pagination import ByName
from actors.usecases.playlists import PlaylistList, PlaylistQuery, SavePlaylist
from edge.api import ApiRouter, body, encoded, no_content, query
from edge.auth import authenticated
from edge.container import container
from edge.pagination import Pager

router = ApiRouter("playlists", __name__, tag="playlists")

_PLAYLISTS = "/api/v1/tenants/<uuid:tenant_id>/playlists"
_ONE = _PLAYLISTS + "/<uuid:playlist_id>"


@router.post(
    _PLAYLISTS,
    summary="Create a playlist of approved content (editor)",
    request=SavePlaylist,
    response=PlaylistRecord,
    status=201,
    errors=(404, 409),
)
async def create_playlist(tenant_id: UUID) -> Response:
    who = await authenticated()
    cmd = await body(SavePlaylist)
    return encoded(await container().playlists.create(who, tenant_id, cmd), status=201)


@router.get(
    _PLAYLISTS,
    summary="The tenant's playlists, by name (paged)",
    query=PlaylistQuery,
    response=PlaylistList,
    errors=(404,),
)
async def list_playlists(tenant_id: UUID) -> Response:
    who = await authenticated()
    pager = Pager(query(PlaylistQuery), ByName, "playlists", tenant_id)
    found = await container().playlists.list(who, tenant_id, pager.request)
    return encoded(PlaylistList(items=found.items, next_cursor=pager.next_cursor(found)))


@router.get(_ONE, summary="One playlist", response=PlaylistRecord, errors=(404,))
async def get_playlist(tenant_id: UUID, playlist_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().playlists.get(who, tenant_id, playlist_id))


@router.put(
    _ONE,
    summary="Replace a playlist's name and items; screens playing it follow (editor)",
    request=SavePlaylist,
    response=PlaylistRecord,
    errors=(404, 409),
)
async def replace_playlist(tenant_id: UUID, playlist_id: UUID) -> Response:
    who = await authenticated()
    cmd = await body(SavePlaylist)
    return encoded(await container().playlists.replace(who, tenant_id, playlist_id, cmd))


@router.delete(
    _ONE,
    summary="Delete a playlist no schedule plays (editor)",
    status=204,
    errors=(404, 409),
)
async def delete_playlist(tenant_id: UUID, playlist_id: UUID) -> Response:
    who = await authenticated()
    await container().playlists.delete(who, tenant_id, playlist_id)
    return no_content()
