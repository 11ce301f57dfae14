""" "Why is this playing": examples of each reason, then properties — above all that the
explanation's winner and items are always what the manifest plays at that instant."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from uuid import UUID, uuid4

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.domain.content_lifecycle import ContentLifecycle, ContentState, may_reach_devices
from actors.domain.content_types import ContentKind, ContentRevision
from actors.domain.explanations import (
    Explanation,
    HeldBack,
    Reason,
    explain_device,
)
from actors.domain.manifest_batch import Horizon, plan_batch
from actors.domain.manifest_plan import (
    ContentSnapshot,
    Manifest,
    ManifestItem,
    Playlist,
    PlaylistItem,
)
from actors.domain.schedule_resolution import ScheduleBook, rank_key
from actors.domain.schedule_types import DeviceProfile, ScheduleEntry
from actors.domain.targets import DeviceTarget, GroupTarget, Target, TenantTarget
from actors.errors import Invalid
from tests.domain import schedule_oracle as oracle

PROPERTY = settings(max_examples=200, deadline=None)
TENANT = UUID(int=7)
MEDIA = "https://media.example/m"
CREATED = datetime(2024, 1, 1, tzinfo=UTC)
SCREEN = DeviceProfile(id=UUID(int=1), timezone="Europe/Berlin", groups=frozenset({"lobby"}))
MONDAY_NOON = datetime(2024, 5, 6, 10, tzinfo=UTC)  # 12:00 in Berlin
SUBMITTER = UUID(int=9)
LIVE = ContentLifecycle(ContentState.APPROVED, 1, 1, submitted_by=SUBMITTER)
_manifest = msgspec.json.Decoder(Manifest)


def text(
    content_id: UUID, valid_from: datetime | None = None, valid_until: datetime | None = None
) -> ContentSnapshot:
    revision = ContentRevision(
        1,
        ContentKind.TEXT,
        "Note",
        10,
        valid_from=valid_from,
        valid_until=valid_until,
        body="Hi",
    )
    return ContentSnapshot(content_id, LIVE, revision)


def entry(
    playlist_id: UUID,
    *,
    target: Target | None = None,
    priority: int = 0,
    created_at: datetime = CREATED,
    entry_id: UUID | None = None,
    **fields: object,
) -> ScheduleEntry:
    return msgspec.convert(
        {
            "id": entry_id or uuid4(),
            "playlist_id": playlist_id,
            "target": target or TenantTarget(),
            "priority": priority,
            "created_at": created_at,
            **fields,
        },
        ScheduleEntry,
        from_attributes=True,
    )


def explain(
    entries: list[ScheduleEntry],
    playlists: dict[UUID, Playlist],
    contents: dict[UUID, ContentSnapshot],
    at: datetime = MONDAY_NOON,
    device: DeviceProfile = SCREEN,
) -> Explanation:
    return explain_device(
        device, entries, playlists, contents, at, tenant_id=TENANT, media_base_url=MEDIA
    )


def reasons(explanation: Explanation) -> dict[UUID, Reason]:
    return {c.schedule_id: c.reason for c in explanation.candidates}


# --- examples of each reason -----------------------------------------------------------------

POSTER = UUID(int=101)
LOOP = Playlist(UUID(int=201), (PlaylistItem(POSTER, duration_s=15),))
PLAYLISTS = {LOOP.id: LOOP}
CONTENT = {POSTER: text(POSTER)}


def test_the_winner_plays_its_items_and_every_loser_says_which_rule_it_lost_on() -> None:
    winner = entry(LOOP.id, priority=5, target=GroupTarget(frozenset({"lobby"})))
    lower = entry(LOOP.id, priority=4, target=DeviceTarget(frozenset({SCREEN.id})))
    tenant_wide = entry(LOOP.id, priority=5)
    older = entry(LOOP.id, priority=5, target=GroupTarget(frozenset({"lobby", "x"})))
    newest_at = CREATED + timedelta(days=1)
    winner = msgspec.structs.replace(winner, created_at=newest_at)
    tie = msgspec.structs.replace(winner, id=UUID(int=1), target=GroupTarget(frozenset({"lobby"})))
    explanation = explain([lower, tenant_wide, older, tie, winner], PLAYLISTS, CONTENT)

    assert explanation.at == MONDAY_NOON
    assert explanation.device_id == SCREEN.id
    assert explanation.timezone == "Europe/Berlin"
    assert explanation.playing is not None
    assert explanation.playing.schedule_id == winner.id
    assert explanation.playing.items == (ManifestItem(POSTER, 15),)
    assert explanation.playing.held_back == ()
    assert [c.schedule_id for c in explanation.candidates] == [
        winner.id,
        tie.id,
        older.id,
        tenant_wide.id,
        lower.id,
    ]
    assert [c.won for c in explanation.candidates] == [True, False, False, False, False]
    assert reasons(explanation) == {
        winner.id: Reason.PLAYING,
        tie.id: Reason.LOWER_ID,
        older.id: Reason.OLDER,
        tenant_wide.id: Reason.LESS_SPECIFIC_TARGET,
        lower.id: Reason.LOWER_PRIORITY,
    }
    by_id = {c.schedule_id: c for c in explanation.candidates}
    assert by_id[lower.id].detail == "priority 4 is below the winner's 5"
    assert by_id[lower.id].target_scope == "device"
    assert by_id[tenant_wide.id].target_scope == "tenant"
    assert by_id[winner.id].timezone == "Europe/Berlin"


def test_entries_outside_their_dates_days_and_hours_say_so_in_the_screen_zone() -> None:
    later = entry(LOOP.id, starts_at=MONDAY_NOON + timedelta(hours=1))
    over = entry(LOOP.id, ends_at=MONDAY_NOON)  # end exclusive: over at that instant
    weekends = entry(LOOP.id, days_of_week=frozenset({6, 7}))
    evenings = entry(LOOP.id, start_time=time(18), end_time=time(23))
    tokyo_office = entry(LOOP.id, start_time=time(9), end_time=time(17), timezone="Asia/Tokyo")
    explanation = explain([later, over, weekends, evenings, tokyo_office], PLAYLISTS, CONTENT)

    assert explanation.playing is None
    assert not any(c.won for c in explanation.candidates)
    assert reasons(explanation) == {
        later.id: Reason.NOT_STARTED,
        over.id: Reason.ENDED,
        weekends.id: Reason.OUTSIDE_DAYS,
        evenings.id: Reason.OUTSIDE_HOURS,
        tokyo_office.id: Reason.OUTSIDE_HOURS,  # 19:00 in Tokyo
    }
    by_id = {c.schedule_id: c for c in explanation.candidates}
    assert by_id[later.id].detail == "starts at 2024-05-06T11:00:00Z"
    assert "Sat, Sun" in by_id[weekends.id].detail
    assert "Monday 12:00 in Europe/Berlin" in by_id[weekends.id].detail
    assert "18:00-23:00" in by_id[evenings.id].detail
    assert by_id[tokyo_office.id].timezone == "Asia/Tokyo"
    assert "Monday 19:00 in Asia/Tokyo" in by_id[tokyo_office.id].detail


def test_the_tail_of_an_excluded_night_is_outside_days() -> None:
    # Sunday night's 22:00-06:00 window would cover Monday 02:00; only Monday is listed.
    monday_nights = entry(
        LOOP.id, days_of_week=frozenset({1}), start_time=time(22), end_time=time(6)
    )
    at = datetime(2024, 5, 6, 0, tzinfo=UTC)  # Monday 02:00 in Berlin
    assert reasons(explain([monday_nights], PLAYLISTS, CONTENT, at)) == {
        monday_nights.id: Reason.OUTSIDE_DAYS
    }


def test_a_window_lost_in_the_spring_forward_gap_is_outside_hours() -> None:
    lost = entry(LOOP.id, start_time=time(2), end_time=time(2, 45))
    at = datetime(2024, 3, 31, 1, tzinfo=UTC)  # the jump: 03:00 CEST
    assert reasons(explain([lost], PLAYLISTS, CONTENT, at)) == {lost.id: Reason.OUTSIDE_HOURS}


def test_a_winner_with_nothing_to_show_idles_instead_of_falling_back() -> None:
    empty = Playlist(UUID(int=202), ())
    draft, old, soon, archived, gone = (UUID(int=n) for n in range(110, 115))
    blocked = Playlist(
        UUID(int=203),
        tuple(PlaylistItem(c) for c in (draft, old, soon, archived, gone, draft)),
    )
    contents = {
        draft: ContentSnapshot(draft, ContentLifecycle(ContentState.DRAFT, 1), None),
        old: text(old, valid_until=MONDAY_NOON),
        soon: text(soon, valid_from=MONDAY_NOON + timedelta(seconds=1)),
        archived: ContentSnapshot(archived, ContentLifecycle(ContentState.ARCHIVED, 1), None),
        POSTER: text(POSTER),
    }
    playlists = {p.id: p for p in (LOOP, empty, blocked)}
    fallback = entry(LOOP.id)
    for top, reason in ((empty, Reason.PLAYLIST_EMPTY), (blocked, Reason.NO_PLAYABLE_CONTENT)):
        winner = entry(top.id, priority=1)
        explanation = explain([winner, fallback], playlists, contents)
        assert explanation.playing is not None
        assert explanation.playing.schedule_id == winner.id
        assert explanation.playing.items == ()
        assert reasons(explanation) == {winner.id: reason, fallback.id: Reason.LOWER_PRIORITY}
    assert explanation.playing is not None
    assert [(h.content_id, h.reason) for h in explanation.playing.held_back] == [
        (draft, HeldBack.NOT_APPROVED),
        (old, HeldBack.EXPIRED),
        (soon, HeldBack.NOT_YET_VALID),
        (archived, HeldBack.ARCHIVED),
        (gone, HeldBack.CONTENT_MISSING),
    ]


def test_a_device_in_an_unusable_zone_is_explained_in_utc_as_it_is_planned() -> None:
    lost = DeviceProfile(id=UUID(int=3), timezone="Nowhere/Town")
    noon_utc = entry(LOOP.id, start_time=time(10), end_time=time(11))
    explanation = explain([noon_utc], PLAYLISTS, CONTENT, device=lost)
    assert explanation.timezone == "UTC"
    assert reasons(explanation) == {noon_utc.id: Reason.PLAYING}


def test_instants_outside_the_explainable_range_are_invalid() -> None:
    for at in (datetime(1969, 12, 31, 23, 59, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)):
        with pytest.raises(Invalid) as raised:
            explain([], PLAYLISTS, CONTENT, at)
        assert raised.value.field == "at"
    with pytest.raises(ValueError, match="aware"):
        explain([], PLAYLISTS, CONTENT, datetime(2024, 5, 6))


def test_entries_for_other_screens_are_not_candidates() -> None:
    elsewhere = entry(LOOP.id, target=GroupTarget(frozenset({"cafeteria"})), priority=9)
    someone = entry(LOOP.id, target=DeviceTarget(frozenset({UUID(int=99)})), priority=9)
    explanation = explain([elsewhere, someone], PLAYLISTS, CONTENT)
    assert explanation.candidates == ()
    assert explanation.playing is None


# --- properties ------------------------------------------------------------------------------

CONTENT_IDS = tuple(UUID(int=1000 + n) for n in range(6))
_STATES = st.sampled_from(("live", "live_with_draft", "draft", "archived", "missing"))
_VALIDITY = st.none() | st.integers(-3 * 60, 3 * 60)
_ITEMS = st.lists(
    st.builds(PlaylistItem, st.sampled_from(CONTENT_IDS), st.none() | st.integers(1, 60)),
    max_size=4,
)
_DEVICE_ZONE = st.sampled_from((*oracle.ZONES, "Nowhere/Town"))


def _snapshot(
    content_id: UUID, state: str, at: datetime, since: int | None, until: int | None
) -> ContentSnapshot | None:
    valid_from = None if since is None else at + timedelta(minutes=since)
    valid_until = None if until is None else at + timedelta(minutes=until)
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        valid_from, valid_until = valid_until, valid_from + timedelta(minutes=1)
    revision = ContentRevision(
        1,
        ContentKind.TEXT,
        "Item",
        10,
        valid_from=valid_from,
        valid_until=valid_until,
        body="text",
    )
    if state == "live":
        return ContentSnapshot(content_id, LIVE, revision)
    if state == "live_with_draft":
        working = ContentLifecycle(ContentState.DRAFT, 2, live_revision=1)
        return ContentSnapshot(content_id, working, revision)
    if state == "draft":
        return ContentSnapshot(content_id, ContentLifecycle(ContentState.DRAFT, 1), None)
    if state == "archived":
        archived = ContentLifecycle(ContentState.ARCHIVED, 1, submitted_by=SUBMITTER)
        return ContentSnapshot(content_id, archived, None)
    return None


class World(msgspec.Struct, frozen=True):
    at: datetime
    device: DeviceProfile
    entries: list[ScheduleEntry]
    playlists: dict[UUID, Playlist]
    contents: dict[UUID, ContentSnapshot]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    at, device, entries = draw(oracle.SCENARIOS)
    device = msgspec.structs.replace(device, timezone=draw(_DEVICE_ZONE))
    playlists = {}
    for schedule in entries:
        if draw(st.integers(0, 9)) > 0:  # now and then a playlist that no longer exists
            items = tuple(draw(_ITEMS))
            playlists[schedule.playlist_id] = Playlist(schedule.playlist_id, items)
    contents = {}
    for content_id in CONTENT_IDS:
        snapshot = _snapshot(content_id, draw(_STATES), at, draw(_VALIDITY), draw(_VALIDITY))
        if snapshot is not None:
            contents[content_id] = snapshot
    return World(at, device, entries, playlists, contents)


def _explained(world: World) -> Explanation:
    return explain(world.entries, world.playlists, world.contents, world.at, world.device)


@PROPERTY
@given(
    world=worlds(),
    ahead_min=st.integers(1, 36 * 60),
    step_min=st.integers(1, 120),
    lead=st.floats(0, 1),
)
def test_the_explanation_is_what_the_manifest_plays(
    world: World, ahead_min: int, step_min: int, lead: float
) -> None:
    """Whatever the schedules, targets, zones, content and instant: the manifest planned
    at any moment whose horizon covers ``at`` plays, at ``at``, the explanation's winner
    and items (or idles when the explanation names no winner)."""
    horizon = Horizon(ahead=timedelta(minutes=ahead_min), step=timedelta(minutes=step_min))
    now = world.at - timedelta(minutes=ahead_min) * lead
    plan = plan_batch(
        [world.device],
        world.entries,
        world.playlists,
        world.contents,
        {},
        now=now,
        horizon=horizon,
        tenant_id=TENANT,
        media_base_url=MEDIA,
    )
    manifest = _manifest.decode(plan.documents[plan.changed[world.device.id]].document)
    assert manifest.starts_at <= world.at < manifest.ends_at
    (piece,) = [s for s in manifest.slices if s.start <= world.at < s.end]
    playing = _explained(world).playing
    if playing is None:
        assert (piece.schedule_id, piece.playlist_id, piece.items) == (None, None, ())
    else:
        assert (piece.schedule_id, piece.playlist_id) == (playing.schedule_id, playing.playlist_id)
        assert piece.items == playing.items


@PROPERTY
@given(world=worlds())
def test_candidates_and_reasons_follow_the_written_rules(world: World) -> None:
    """Against the independent oracle of ``schedule_oracle``: the candidates are exactly
    the applicable entries, best-ranked first; the winner is the oracle's; every other
    candidate's reason is the first written rule that keeps it off the screen."""
    explanation = _explained(world)
    device = msgspec.structs.replace(world.device, timezone=explanation.timezone)
    applicable = sorted(
        (e for e in world.entries if oracle.applies(e, device)),
        key=lambda e: (e.priority, oracle._specificity(e.target), e.created_at, e.id.int),
        reverse=True,
    )
    assert [c.schedule_id for c in explanation.candidates] == [e.id for e in applicable]
    winner = oracle.winner(world.entries, device, world.at)
    assert [c.schedule_id for c in explanation.candidates if c.won] == (
        [] if winner is None else [winner.id]
    )
    assert (explanation.playing is None) == (winner is None)
    by_id = {e.id: e for e in applicable}
    for candidate in explanation.candidates:
        schedule = by_id[candidate.schedule_id]
        assert candidate.timezone == (schedule.timezone or device.timezone)
        assert candidate.detail
        if candidate.won:
            assert candidate.reason in (
                Reason.PLAYING,
                Reason.PLAYLIST_EMPTY,
                Reason.NO_PLAYABLE_CONTENT,
            )
        elif oracle.active(schedule, device, world.at):
            assert winner is not None
            assert candidate.reason == _first_rule_lost(schedule, winner)
        else:
            assert candidate.reason == _why_idle(schedule, device, world.at)


@PROPERTY
@given(world=worlds())
def test_held_back_items_are_exactly_those_the_manifest_leaves_out(world: World) -> None:
    playing = _explained(world).playing
    if playing is None:
        return
    playlist = world.playlists.get(playing.playlist_id)
    items = () if playlist is None else playlist.items
    playable = {
        item.content_id
        for item in items
        if (s := world.contents.get(item.content_id)) is not None
        and s.live is not None
        and may_reach_devices(s.lifecycle, s.live, world.at)
    }
    assert {item.content_id for item in playing.items} == playable
    held = [h.content_id for h in playing.held_back]
    assert len(held) == len(set(held))
    assert set(held) == {item.content_id for item in items} - playable
    for item in playing.held_back:
        snapshot = world.contents.get(item.content_id)
        if item.reason is HeldBack.CONTENT_MISSING:
            assert snapshot is None
        elif item.reason is HeldBack.NOT_YET_VALID:
            assert snapshot is not None
            assert snapshot.live is not None
            assert snapshot.live.valid_from is not None
            assert world.at < snapshot.live.valid_from
        elif item.reason is HeldBack.EXPIRED:
            assert snapshot is not None
            assert snapshot.live is not None
            assert snapshot.live.valid_until is not None
            assert world.at >= snapshot.live.valid_until
    winner = next(c for c in _explained(world).candidates if c.won)
    if playing.items:
        assert winner.reason is Reason.PLAYING
    else:
        assert winner.reason is (
            Reason.NO_PLAYABLE_CONTENT if playing.held_back else Reason.PLAYLIST_EMPTY
        )


@PROPERTY
@given(world=worlds())
def test_resolve_is_the_explanations_winner(world: World) -> None:
    book = ScheduleBook(world.entries)
    device = msgspec.structs.replace(world.device, timezone="UTC")
    resolution = book.explain(device, world.at)
    assert book.resolve(device, world.at) == resolution.winner
    assert resolution.slice.schedule_id == (
        None if resolution.winner is None else resolution.winner.id
    )
    assert [c.entry for c in resolution.candidates] == sorted(
        (c.entry for c in resolution.candidates), key=rank_key
    )


def _first_rule_lost(schedule: ScheduleEntry, winner: ScheduleEntry) -> Reason:
    if schedule.priority != winner.priority:
        assert schedule.priority < winner.priority
        return Reason.LOWER_PRIORITY
    mine, theirs = oracle._specificity(schedule.target), oracle._specificity(winner.target)
    if mine != theirs:
        assert mine < theirs
        return Reason.LESS_SPECIFIC_TARGET
    if schedule.created_at != winner.created_at:
        assert schedule.created_at < winner.created_at
        return Reason.OLDER
    assert schedule.id.int < winner.id.int
    return Reason.LOWER_ID


def _why_idle(schedule: ScheduleEntry, device: DeviceProfile, at: datetime) -> Reason:
    if schedule.starts_at is not None and at < schedule.starts_at:
        return Reason.NOT_STARTED
    if schedule.ends_at is not None and at >= schedule.ends_at:
        return Reason.ENDED
    every_day = msgspec.structs.replace(schedule, days_of_week=None)
    if schedule.days_of_week is not None and oracle.active(every_day, device, at):
        return Reason.OUTSIDE_DAYS
    return Reason.OUTSIDE_HOURS
