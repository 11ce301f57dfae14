"""A device's manifest, planned from its timeline, the playlists and the content — pure.

The manifest tells a screen what to play over the next hours so that it keeps playing
offline: a list of time slices, each with the ordered items to loop through, plus the
payload of every content item those slices name (once, however often it is played).

Only content that :func:`~actors.domain.content_lifecycle.may_reach_devices` admits is
ever written into a manifest; a slice is cut where an item's validity starts or ends,
so each piece lists exactly the items valid throughout it.

The document holds no version number: the store bumps a device's version only when
:func:`manifest_hash` of the newly planned document differs from the last one.
Plan from :func:`horizon_start` (not from "now") so that the passage of time alone
changes the document at most once per step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from uuid import UUID

import msgspec

from actors.domain.content_lifecycle import ContentLifecycle, may_reach_devices
from actors.domain.content_types import DURATION_MAX_S, MEDIA_KINDS, ContentKind, ContentRevision
from actors.domain.schedule_types import Instant, Slice
from actors.domain.wall_clock import to_utc
from actors.errors import Invalid

PLAYLIST_MAX_ITEMS = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class PlaylistItem(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One position in a playlist; ``duration_s`` overrides the content's own duration."""

    content_id: UUID
    duration_s: int | None = None


class Playlist(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: UUID
    items: tuple[PlaylistItem, ...]


class ContentSnapshot(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A content item as the planner sees it: its lifecycle and its live revision
    (``None`` when nothing is approved)."""

    id: UUID
    lifecycle: ContentLifecycle
    live: ContentRevision | None


class ManifestContent(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The payload of one content item: ``url`` is the media file (uploads, built from
    the media base URL) or the web address; ``body`` holds HTML or text."""

    id: UUID
    revision: int
    kind: ContentKind
    url: str | None = None
    body: str | None = None
    sha256: str | None = None
    media_type: str | None = None


class ManifestItem(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Play ``content_id`` for ``duration_s`` seconds, then the next item (looping)."""

    content_id: UUID
    duration_s: int


class ManifestSlice(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``[start, end)``: loop through ``items``; no items means show the idle screen."""

    start: Instant
    end: Instant
    schedule_id: UUID | None
    playlist_id: UUID | None
    items: tuple[ManifestItem, ...]


class Manifest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a device plays over ``[starts_at, ends_at)``; ``slices`` cover it exactly."""

    starts_at: Instant
    ends_at: Instant
    slices: tuple[ManifestSlice, ...]
    content: tuple[ManifestContent, ...]
    """Every item the slices name, once, ordered by id."""


def validate_playlist(playlist: Playlist) -> None:
    """Check a playlist as an editor saves it (that its content exists and is approved
    is the use case's check, against the store).

    :raises Invalid: naming the offending field.
    """
    if len(playlist.items) > PLAYLIST_MAX_ITEMS:
        raise Invalid(f"a playlist holds at most {PLAYLIST_MAX_ITEMS} items", field="items")
    for item in playlist.items:
        if item.duration_s is not None and not 1 <= item.duration_s <= DURATION_MAX_S:
            raise Invalid(f"duration_s must lie in [1, {DURATION_MAX_S}]", field="duration_s")


def media_url(media_base_url: str, tenant_id: UUID, sha256: str) -> str:
    """Where screens fetch an uploaded file: ``<base>/<tenant id>/<sha256>``."""
    return f"{media_base_url.rstrip('/')}/{tenant_id}/{sha256}"


def horizon_start(now: datetime, step: timedelta) -> datetime:
    """``now`` rounded down to a multiple of ``step`` since the Unix epoch (UTC).

    Plan over ``[horizon_start(now, step), … + wanted + step)`` to always cover ``wanted``
    ahead of ``now`` while producing the same document for a whole step.

    :raises ValueError: if ``step`` is not positive or ``now`` is naive.
    """
    if step <= timedelta(0):
        raise ValueError("step must be positive")
    return _EPOCH + (to_utc(now) - _EPOCH) // step * step


def plan_manifest(
    slices: Sequence[Slice],
    playlists: Mapping[UUID, Playlist],
    contents: Mapping[UUID, ContentSnapshot],
    *,
    tenant_id: UUID,
    media_base_url: str,
) -> Manifest:
    """The manifest for a device whose timeline is ``slices``.

    Items whose content is unknown, not approved, archived or outside its validity are
    left out; a slice whose playlist is unknown or has nothing playable is kept with no
    items (the screen idles rather than falling through to a lower-priority schedule:
    the schedule decided, the content is what is missing).

    :raises ValueError: if ``slices`` is empty or not contiguous.
    """
    if not slices:
        raise ValueError("a manifest needs at least one slice")
    for before, after in pairwise(slices):
        if before.end != after.start:
            raise ValueError("slices must be contiguous")
    planned: list[ManifestSlice] = []
    payloads: dict[UUID, ManifestContent] = {}
    for piece in slices:
        playlist = None if piece.playlist_id is None else playlists.get(piece.playlist_id)
        entries = _live_entries(playlist, contents)
        start, end = to_utc(piece.start), to_utc(piece.end)
        cuts = sorted(
            {
                boundary
                for _, snapshot in entries
                for boundary in _validity_bounds(snapshot)
                if start < boundary < end
            }
        )
        for lo, hi in pairwise([start, *cuts, end]):
            items: list[ManifestItem] = []
            for item, snapshot in entries:
                assert snapshot.live is not None  # _live_entries keeps only those
                if may_reach_devices(snapshot.lifecycle, snapshot.live, lo):
                    duration = item.duration_s or snapshot.live.duration_s
                    items.append(ManifestItem(snapshot.id, duration))
                    payloads.setdefault(snapshot.id, _payload(snapshot, tenant_id, media_base_url))
            _append(
                planned, ManifestSlice(lo, hi, piece.schedule_id, piece.playlist_id, tuple(items))
            )
    return Manifest(
        starts_at=planned[0].start,
        ends_at=planned[-1].end,
        slices=tuple(planned),
        content=tuple(payloads[key] for key in sorted(payloads, key=str)),
    )


def canonical_json(manifest: Manifest) -> bytes:
    """The manifest's canonical JSON encoding (fields in declaration order, UTC instants)."""
    return msgspec.json.encode(manifest, order="deterministic")


def manifest_hash(manifest: Manifest) -> str:
    """SHA-256 (hex) of :func:`canonical_json`: equal iff the documents are equal."""
    return hashlib.sha256(canonical_json(manifest)).hexdigest()


def _live_entries(
    playlist: Playlist | None, contents: Mapping[UUID, ContentSnapshot]
) -> list[tuple[PlaylistItem, ContentSnapshot]]:
    if playlist is None:
        return []
    entries = []
    for item in playlist.items:
        snapshot = contents.get(item.content_id)
        if snapshot is not None and snapshot.live is not None:
            entries.append((item, snapshot))
    return entries


def _validity_bounds(snapshot: ContentSnapshot) -> list[datetime]:
    live = snapshot.live
    assert live is not None
    return [to_utc(bound) for bound in (live.valid_from, live.valid_until) if bound is not None]


def _payload(snapshot: ContentSnapshot, tenant_id: UUID, media_base_url: str) -> ManifestContent:
    live = snapshot.live
    assert live is not None
    if live.kind in MEDIA_KINDS and live.media_sha256 is not None:
        url = media_url(media_base_url, tenant_id, live.media_sha256)
        return ManifestContent(
            snapshot.id,
            live.number,
            live.kind,
            url=url,
            sha256=live.media_sha256,
            media_type=live.media_type,
        )
    return ManifestContent(snapshot.id, live.number, live.kind, url=live.uri, body=live.body)


def _append(planned: list[ManifestSlice], piece: ManifestSlice) -> None:
    last = planned[-1] if planned else None
    if last is not None and (last.schedule_id, last.playlist_id, last.items) == (
        piece.schedule_id,
        piece.playlist_id,
        piece.items,
    ):
        planned[-1] = ManifestSlice(
            last.start, piece.end, last.schedule_id, last.playlist_id, last.items
        )
    else:
        planned.append(piece)
