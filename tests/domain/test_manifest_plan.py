"""Manifest planning: only approved, valid content; cuts at validity edges; stable hash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from uuid import UUID

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.domain.content_lifecycle import ContentLifecycle, ContentState, may_reach_devices
from actors.domain.content_types import ContentKind, ContentRevision
from actors.domain.manifest_plan import (
    ContentSnapshot,
    Manifest,
    ManifestContent,
    ManifestItem,
    Playlist,
    PlaylistItem,
    canonical_json,
    horizon_start,
    manifest_hash,
    media_url,
    plan_manifest,
    validate_playlist,
)
from actors.domain.schedule_types import Slice
from actors.errors import Invalid

TENANT = UUID(int=7)
SCHEDULE, PLAYLIST = UUID(int=100), UUID(int=200)
POSTER, MENU, NOTICE, DRAFT_ONLY, GONE = (UUID(int=n) for n in range(1, 6))
START = datetime(2024, 5, 6, tzinfo=UTC)
HOUR = timedelta(hours=1)
SHA = "ab" * 32
LIVE = ContentLifecycle(ContentState.APPROVED, 1, 1, submitted_by=UUID(int=9))


def snapshot(content_id: UUID, revision: ContentRevision) -> ContentSnapshot:
    return ContentSnapshot(content_id, LIVE, revision)


CONTENT = {
    POSTER: snapshot(
        POSTER,
        ContentRevision(
            1, ContentKind.IMAGE, "Poster", 10, media_sha256=SHA, media_type="image/png"
        ),
    ),
    MENU: snapshot(MENU, ContentRevision(1, ContentKind.URL, "Menu", 20, uri="https://m.example/")),
    NOTICE: snapshot(
        NOTICE,
        ContentRevision(
            1, ContentKind.TEXT, "Notice", 5, body="Lift out of order", valid_until=START + 2 * HOUR
        ),
    ),
    DRAFT_ONLY: ContentSnapshot(DRAFT_ONLY, ContentLifecycle(ContentState.DRAFT, 1), None),
}
PLAYLISTS = {
    PLAYLIST: Playlist(
        PLAYLIST,
        (
            PlaylistItem(POSTER),
            PlaylistItem(NOTICE),
            PlaylistItem(DRAFT_ONLY),
            PlaylistItem(GONE),
            PlaylistItem(MENU, duration_s=45),
        ),
    )
}


def plan(slices: list[Slice], contents: dict[UUID, ContentSnapshot] = CONTENT) -> Manifest:
    return plan_manifest(
        slices, PLAYLISTS, contents, tenant_id=TENANT, media_base_url="https://media.example/m/"
    )


def test_only_approved_valid_content_is_planned_and_cut_where_validity_ends() -> None:
    manifest = plan([Slice(START, START + 4 * HOUR, SCHEDULE, PLAYLIST)])
    assert [(s.start, s.end) for s in manifest.slices] == [
        (START, START + 2 * HOUR),
        (START + 2 * HOUR, START + 4 * HOUR),
    ]
    assert manifest.slices[0].items == (
        ManifestItem(POSTER, 10),
        ManifestItem(NOTICE, 5),
        ManifestItem(MENU, 45),  # the playlist's duration overrides the content's
    )
    assert manifest.slices[1].items == (ManifestItem(POSTER, 10), ManifestItem(MENU, 45))
    assert {s.schedule_id for s in manifest.slices} == {SCHEDULE}


def test_content_starting_mid_slice_appears_from_its_start() -> None:
    later = snapshot(
        NOTICE, ContentRevision(1, ContentKind.TEXT, "Notice", 5, body="x", valid_from=START + HOUR)
    )
    manifest = plan([Slice(START, START + 2 * HOUR, SCHEDULE, PLAYLIST)], {NOTICE: later})
    assert [(s.start, s.items) for s in manifest.slices] == [
        (START, ()),
        (START + HOUR, (ManifestItem(NOTICE, 5),)),
    ]


def test_payloads_are_listed_once_by_id_with_media_urls_built_from_the_hash() -> None:
    manifest = plan(
        [
            Slice(START, START + HOUR, SCHEDULE, PLAYLIST),
            Slice(START + HOUR, START + 3 * HOUR, UUID(int=101), PLAYLIST),
        ]
    )
    assert manifest.content == (
        ManifestContent(
            POSTER,
            1,
            ContentKind.IMAGE,
            url=f"https://media.example/m/{TENANT}/{SHA}",
            sha256=SHA,
            media_type="image/png",
        ),
        ManifestContent(MENU, 1, ContentKind.URL, url="https://m.example/"),
        ManifestContent(NOTICE, 1, ContentKind.TEXT, body="Lift out of order"),
    )


def test_idle_slices_and_unknown_playlists_have_no_items() -> None:
    manifest = plan(
        [
            Slice(START, START + HOUR, None, None),
            Slice(START + HOUR, START + 2 * HOUR, SCHEDULE, UUID(int=999)),
        ]
    )
    assert [s.items for s in manifest.slices] == [(), ()]
    assert manifest.content == ()
    assert (manifest.starts_at, manifest.ends_at) == (START, START + 2 * HOUR)


def test_slices_must_be_contiguous_and_present() -> None:
    with pytest.raises(ValueError, match="contiguous"):
        plan(
            [
                Slice(START, START + HOUR, None, None),
                Slice(START + 2 * HOUR, START + 3 * HOUR, None, None),
            ]
        )
    with pytest.raises(ValueError, match="at least one"):
        plan([])


def test_hash_is_stable_and_changes_only_with_the_document() -> None:
    slices = [Slice(START, START + 4 * HOUR, SCHEDULE, PLAYLIST)]
    first = plan(slices)
    shuffled = dict(reversed(list(CONTENT.items())))
    assert manifest_hash(plan(slices, shuffled)) == manifest_hash(first)
    unrelated = {**CONTENT, UUID(int=50): CONTENT[MENU]}  # not in the playlist
    assert manifest_hash(plan(slices, unrelated)) == manifest_hash(first)
    revised = ContentRevision(2, ContentKind.URL, "Menu", 20, uri="https://m.example/v2")
    approved_again = ContentLifecycle(ContentState.APPROVED, 2, 2, submitted_by=UUID(int=9))
    changed = {**CONTENT, MENU: ContentSnapshot(MENU, approved_again, revised)}
    assert manifest_hash(plan(slices, changed)) != manifest_hash(first)
    assert msgspec.json.decode(canonical_json(first), type=Manifest) == first


def test_horizon_start_rounds_down_to_the_step() -> None:
    step = timedelta(minutes=15)
    now = datetime(2024, 5, 6, 10, 44, 59, 999999, tzinfo=UTC)
    assert horizon_start(now, step) == datetime(2024, 5, 6, 10, 30, tzinfo=UTC)
    assert horizon_start(datetime(2024, 5, 6, 10, 30, tzinfo=UTC), step) == horizon_start(now, step)
    with pytest.raises(ValueError, match="positive"):
        horizon_start(now, timedelta(0))


def test_media_url_joins_base_tenant_and_hash() -> None:
    assert media_url("/media", TENANT, SHA) == f"/media/{TENANT}/{SHA}"


def test_playlist_rules() -> None:
    validate_playlist(Playlist(PLAYLIST, (PlaylistItem(POSTER, 30),)))
    with pytest.raises(Invalid) as caught:
        validate_playlist(Playlist(PLAYLIST, (PlaylistItem(POSTER, 0),)))
    assert caught.value.field == "duration_s"


# --- property --------------------------------------------------------------------------------

_OFFSET = st.none() | st.integers(-60, 300).map(lambda minutes: START + timedelta(minutes=minutes))


@st.composite
def _scenario(draw: st.DrawFn) -> tuple[list[Slice], dict[UUID, ContentSnapshot], Playlist]:
    cuts = sorted(draw(st.sets(st.integers(1, 239), max_size=4)))
    bounds = [START, *(START + timedelta(minutes=m) for m in cuts), START + 4 * HOUR]
    slices = [
        Slice(lo, hi, *(draw(st.sampled_from([(SCHEDULE, PLAYLIST), (None, None)]))))
        for lo, hi in pairwise(bounds)
    ]
    contents: dict[UUID, ContentSnapshot] = {}
    for n in range(draw(st.integers(0, 4))):
        start, end = draw(_OFFSET), draw(_OFFSET)
        if start is not None and end is not None and end <= start:
            start, end = end, start + timedelta(minutes=1)
        revision = ContentRevision(1, ContentKind.TEXT, "t", 7, start, end, body="b")
        contents[UUID(int=n + 1)] = ContentSnapshot(UUID(int=n + 1), LIVE, revision)
    ids = draw(st.lists(st.integers(1, 5).map(lambda n: UUID(int=n)), max_size=6))
    return slices, contents, Playlist(PLAYLIST, tuple(PlaylistItem(i) for i in ids))


@settings(max_examples=200, deadline=None)
@given(scenario=_scenario())
def test_every_planned_slice_holds_exactly_the_items_valid_throughout_it(
    scenario: tuple[list[Slice], dict[UUID, ContentSnapshot], Playlist],
) -> None:
    slices, contents, playlist = scenario
    manifest = plan_manifest(
        slices, {PLAYLIST: playlist}, contents, tenant_id=TENANT, media_base_url="/media"
    )
    assert manifest.slices[0].start == START
    assert manifest.slices[-1].end == START + 4 * HOUR
    for before, after in pairwise(manifest.slices):
        assert before.end == after.start
    for piece in manifest.slices:
        for instant in (piece.start, piece.end - timedelta(microseconds=1)):
            expected = tuple(
                ManifestItem(item.content_id, 7)
                for item in playlist.items
                if piece.playlist_id is not None
                and (snap := contents.get(item.content_id)) is not None
                and snap.live is not None
                and may_reach_devices(snap.lifecycle, snap.live, instant)
            )
            assert piece.items == expected
    named = {item.content_id for piece in manifest.slices for item in piece.items}
    assert [c.id for c in manifest.content] == sorted(named, key=str)
