"""Schedule resolution: who plays, when — examples of each rule, then properties."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from uuid import UUID, uuid4

import msgspec
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from actors.domain.schedule_resolution import (
    DAY,
    ScheduleBook,
    is_active,
    resolve,
    timeline,
)
from actors.domain.schedule_types import DeviceProfile, ScheduleEntry, Slice
from actors.domain.targets import DeviceTarget, GroupTarget, Target, TenantTarget
from actors.domain.wall_clock import zone_named
from actors.errors import Invalid
from tests.domain import schedule_oracle as oracle

PROPERTY = settings(max_examples=150, deadline=None)
CREATED = datetime(2024, 1, 1, tzinfo=UTC)
SCREEN = DeviceProfile(id=UUID(int=1), timezone="Europe/Berlin", groups=frozenset({"lobby"}))
BERLIN = zone_named("Europe/Berlin")


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def entry(
    *,
    target: Target | None = None,
    priority: int = 0,
    created_at: datetime = CREATED,
    entry_id: UUID | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    days: set[int] | None = None,
    start_time: time | None = None,
    end_time: time | None = None,
    timezone: str | None = None,
) -> ScheduleEntry:
    return ScheduleEntry(
        id=entry_id or uuid4(),
        playlist_id=uuid4(),
        target=target or TenantTarget(),
        priority=priority,
        created_at=created_at,
        starts_at=starts_at,
        ends_at=ends_at,
        days_of_week=None if days is None else frozenset(days),
        start_time=start_time,
        end_time=end_time,
        timezone=timezone,
    )


def active_at(schedule: ScheduleEntry, at: datetime, device: DeviceProfile = SCREEN) -> bool:
    return resolve(device, [schedule], at) == schedule


# --- windows ---------------------------------------------------------------------------------


def test_window_start_is_inclusive_and_end_exclusive() -> None:
    office = entry(start_time=time(8), end_time=time(18))
    assert not active_at(office, berlin(2024, 5, 6, 7, 59))
    assert active_at(office, berlin(2024, 5, 6, 8, 0))
    assert active_at(office, berlin(2024, 5, 6, 17, 59))
    assert not active_at(office, berlin(2024, 5, 6, 18, 0))


def test_missing_start_means_midnight_and_missing_end_means_next_midnight() -> None:
    morning = entry(end_time=time(6))
    evening = entry(start_time=time(18))
    assert active_at(morning, berlin(2024, 5, 6, 0, 0))
    assert not active_at(morning, berlin(2024, 5, 6, 6, 0))
    assert active_at(evening, berlin(2024, 5, 6, 23, 59))
    assert not active_at(evening, berlin(2024, 5, 7, 0, 0))


def test_end_equal_to_start_is_a_full_day_from_start() -> None:
    rolling = entry(days={1}, start_time=time(12), end_time=time(12))  # Mondays noon to noon
    assert active_at(rolling, berlin(2024, 5, 6, 12))  # Monday
    assert active_at(rolling, berlin(2024, 5, 7, 11, 59))  # Tuesday before noon
    assert not active_at(rolling, berlin(2024, 5, 7, 12))
    assert not active_at(rolling, berlin(2024, 5, 6, 11, 59))


def test_window_crossing_midnight_belongs_to_the_day_it_opens() -> None:
    monday_night = entry(days={1}, start_time=time(22), end_time=time(6))
    assert active_at(monday_night, berlin(2024, 5, 6, 22))  # Monday 22:00
    assert active_at(monday_night, berlin(2024, 5, 7, 5, 59))  # Tuesday early morning
    assert not active_at(monday_night, berlin(2024, 5, 7, 6))
    assert not active_at(monday_night, berlin(2024, 5, 6, 5))  # Sunday night's window
    assert not active_at(monday_night, berlin(2024, 5, 7, 22))  # Tuesday evening


def test_days_of_week_are_read_in_the_entry_zone() -> None:
    # Monday 00:30 in Berlin is still Sunday in New York.
    sundays_ny = entry(days={7}, timezone="America/New_York")
    assert active_at(sundays_ny, berlin(2024, 5, 6, 0, 30))
    assert not active_at(sundays_ny, berlin(2024, 5, 6, 6, 30))


def test_entry_without_zone_follows_each_device_zone() -> None:
    nine_to_five = entry(start_time=time(9), end_time=time(17))
    tokyo = DeviceProfile(id=UUID(int=2), timezone="Asia/Tokyo")
    at = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)  # 10:00 Berlin, 17:00 Tokyo
    assert active_at(nine_to_five, at)
    assert not active_at(nine_to_five, at, tokyo)


def test_date_range_is_start_inclusive_end_exclusive() -> None:
    campaign = entry(starts_at=berlin(2024, 5, 1), ends_at=berlin(2024, 6, 1))
    assert not active_at(campaign, berlin(2024, 5, 1) - timedelta(microseconds=1))
    assert active_at(campaign, berlin(2024, 5, 1))
    assert not active_at(campaign, berlin(2024, 6, 1))


# --- daylight saving time ---------------------------------------------------------------------


def test_window_starting_in_skipped_hour_starts_at_the_jump() -> None:
    early = entry(start_time=time(2, 30), end_time=time(3, 30))
    assert not active_at(early, berlin(2024, 3, 31, 1, 59))
    assert active_at(early, berlin(2024, 3, 31, 3, 0))  # the jump: 02:00 CET -> 03:00 CEST
    assert not active_at(early, berlin(2024, 3, 31, 3, 30))


def test_window_wholly_inside_skipped_hour_does_not_open_that_day() -> None:
    lost = entry(start_time=time(2, 0), end_time=time(2, 45))
    slices = timeline(SCREEN, [lost], berlin(2024, 3, 31), DAY)
    assert [s.schedule_id for s in slices] == [None]


def test_window_in_repeated_hour_opens_once_at_the_first_occurrence() -> None:
    repeated = entry(start_time=time(2, 30), end_time=time(2, 45))
    first = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second = datetime(2024, 10, 27, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert active_at(repeated, first)
    assert not active_at(repeated, second)
    slices = timeline(SCREEN, [repeated], berlin(2024, 10, 27), DAY)
    playing = [s for s in slices if s.schedule_id == repeated.id]
    assert [(s.start, s.end) for s in playing] == [(first, first + timedelta(minutes=15))]


def test_midnight_window_across_a_fall_back_at_midnight_lasts_an_hour_longer() -> None:
    # Sao Paulo, 2019-02-16 23:59:59 -02 fell back to 23:00 -03: the Saturday hour before
    # midnight happened twice, and Saturday's 23:30-00:30 window spans both.
    saturday_night = entry(
        days={6}, start_time=time(23, 30), end_time=time(0, 30), timezone="America/Sao_Paulo"
    )
    second_saturday_2330 = datetime(2019, 2, 17, 2, 30, tzinfo=UTC)
    assert active_at(saturday_night, second_saturday_2330)
    slices = timeline(SCREEN, [saturday_night], datetime(2019, 2, 16, 12, tzinfo=UTC))
    playing = [(s.start, s.end) for s in slices if s.schedule_id == saturday_night.id]
    assert playing == [
        (datetime(2019, 2, 17, 1, 30, tzinfo=UTC), datetime(2019, 2, 17, 3, 30, tzinfo=UTC))
    ]


def test_window_keeps_playing_while_a_fall_back_shows_the_previous_date() -> None:
    # Goose Bay, 2005-10-30 00:01 -03 fell back to 2005-10-29 23:01 -04: Sunday's window
    # opened at the first midnight, then the clock showed Saturday again for an hour.
    sunday_early = entry(
        days={7}, start_time=time(0), end_time=time(1), timezone="America/Goose_Bay"
    )
    shows_saturday = datetime(2005, 10, 30, 3, 30, tzinfo=UTC)  # Sat 23:30 -04
    assert active_at(sunday_early, shows_saturday)
    slices = timeline(SCREEN, [sunday_early], datetime(2005, 10, 29, 12, tzinfo=UTC))
    playing = [(s.start, s.end) for s in slices if s.schedule_id == sunday_early.id]
    assert playing == [
        (datetime(2005, 10, 30, 3, tzinfo=UTC), datetime(2005, 10, 30, 5, tzinfo=UTC))
    ]


def test_window_over_the_fall_back_lasts_one_hour_longer() -> None:
    night = entry(start_time=time(0), end_time=time(6), timezone="America/New_York")
    slices = timeline(SCREEN, [night], datetime(2024, 11, 3, tzinfo=UTC), DAY)
    playing = [s for s in slices if s.schedule_id == night.id]
    assert len(playing) == 1
    assert playing[0].end - playing[0].start == timedelta(hours=7)


def test_window_over_the_spring_forward_lasts_one_hour_less() -> None:
    night = entry(start_time=time(0), end_time=time(6), timezone="America/New_York")
    slices = timeline(SCREEN, [night], datetime(2024, 3, 10, tzinfo=UTC), DAY)
    playing = [s for s in slices if s.schedule_id == night.id]
    assert [s.end - s.start for s in playing] == [timedelta(hours=5)]


# --- ranking ---------------------------------------------------------------------------------


def test_highest_priority_wins_whatever_its_target() -> None:
    urgent = entry(priority=5)
    specific = entry(priority=1, target=DeviceTarget(frozenset({SCREEN.id})))
    assert resolve(SCREEN, [specific, urgent], berlin(2024, 5, 6, 12)) == urgent


def test_priority_tie_goes_to_device_then_group_then_tenant() -> None:
    newest = CREATED + timedelta(days=30)
    everyone = entry(created_at=newest)
    lobby = entry(target=GroupTarget(frozenset({"lobby"})), created_at=newest - timedelta(days=1))
    mine = entry(target=DeviceTarget(frozenset({SCREEN.id})))
    at = berlin(2024, 5, 6, 12)
    assert resolve(SCREEN, [everyone, lobby, mine], at) == mine
    assert resolve(SCREEN, [everyone, lobby], at) == lobby


def test_full_tie_goes_to_newest_then_greatest_id() -> None:
    old, new = entry(), entry(created_at=CREATED + timedelta(seconds=1))
    low, high = entry(entry_id=UUID(int=10)), entry(entry_id=UUID(int=11))
    at = berlin(2024, 5, 6, 12)
    assert resolve(SCREEN, [new, old], at) == new
    assert resolve(SCREEN, [high, low], at) == high


def test_entries_for_other_groups_and_devices_do_not_apply() -> None:
    elsewhere = entry(target=GroupTarget(frozenset({"cafeteria"})), priority=9)
    someone_else = entry(target=DeviceTarget(frozenset({UUID(int=99)})), priority=9)
    assert resolve(SCREEN, [elsewhere, someone_else], berlin(2024, 5, 6, 12)) is None


def test_duplicate_ids_are_refused() -> None:
    one = entry()
    with pytest.raises(ValueError, match="distinct"):
        ScheduleBook([one, one])


def test_unknown_device_zone_is_invalid() -> None:
    lost = DeviceProfile(id=UUID(int=3), timezone="Nowhere/Town")
    with pytest.raises(Invalid):
        resolve(lost, [entry(start_time=time(8))], berlin(2024, 5, 6))


def test_horizon_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        timeline(SCREEN, [], berlin(2024, 5, 6), timedelta(0))


# --- timelines -------------------------------------------------------------------------------


def test_timeline_changes_exactly_where_the_winner_changes() -> None:
    base = entry()
    lunch = entry(priority=1, start_time=time(12), end_time=time(14))
    start = berlin(2024, 5, 6, 0)
    assert timeline(SCREEN, [base, lunch], start) == (
        Slice(start, berlin(2024, 5, 6, 12), base.id, base.playlist_id),
        Slice(berlin(2024, 5, 6, 12), berlin(2024, 5, 6, 14), lunch.id, lunch.playlist_id),
        Slice(berlin(2024, 5, 6, 14), start + DAY, base.id, base.playlist_id),
    )


def test_batch_equals_one_device_at_a_time() -> None:
    schedules = [
        entry(),
        entry(priority=1, target=GroupTarget(frozenset({"lobby"})), start_time=time(9)),
        entry(priority=2, target=DeviceTarget(frozenset({UUID(int=2)})), end_time=time(3)),
        entry(priority=3, start_time=time(20), end_time=time(2), timezone="America/New_York"),
    ]
    devices = [
        DeviceProfile(id=UUID(int=n), timezone=zone, groups=groups)
        for n, (zone, groups) in enumerate(
            [
                ("Europe/Berlin", frozenset({"lobby"})),
                ("Europe/Berlin", frozenset()),
                ("Asia/Tokyo", frozenset({"lobby"})),
                ("Europe/Berlin", frozenset({"lobby"})),
            ],
            start=1,
        )
    ]
    book = ScheduleBook(schedules)
    start = berlin(2024, 10, 26, 17)
    batch = book.timelines(devices, start)
    assert batch == {d.id: timeline(d, schedules, start) for d in devices}


# --- properties ------------------------------------------------------------------------------
# Scenarios put instants near DST transitions of several zones (Berlin, New York, Lord Howe,
# Sao Paulo, Samoa, Santiago) half of the time, so every property covers the gap and the
# overlap as well as ordinary days.


@PROPERTY
@given(scenario=oracle.SCENARIOS)
def test_resolution_matches_the_written_rules(scenario: oracle.Scenario) -> None:
    at, device, schedules = scenario
    assert resolve(device, schedules, at) == oracle.winner(schedules, device, at)


@PROPERTY
@given(scenario=oracle.SCENARIOS, seed=st.integers())
def test_input_order_never_matters(scenario: oracle.Scenario, seed: int) -> None:
    at, device, schedules = scenario
    shuffled = random.Random(seed).sample(schedules, len(schedules))
    assert resolve(device, shuffled, at) == resolve(device, schedules, at)
    assert timeline(device, shuffled, at) == timeline(device, schedules, at)


@PROPERTY
@given(scenario=oracle.SCENARIOS, data=st.data(), fallback_priority=st.integers(-2, 2))
def test_lower_priority_entry_never_changes_the_winner(
    scenario: oracle.Scenario, data: st.DataObject, fallback_priority: int
) -> None:
    at, device, schedules = scenario
    schedules = [*schedules, entry(priority=fallback_priority)]  # there is always a winner
    before = resolve(device, schedules, at)
    assert before is not None
    extra = oracle.draw_entry(data.draw, at)
    assume(extra.id not in {e.id for e in schedules})
    lower = msgspec.structs.replace(extra, priority=before.priority - 1)
    assert resolve(device, [*schedules, lower], at) == before


@PROPERTY
@given(scenario=oracle.SCENARIOS, target=oracle.TARGETS)
def test_higher_priority_active_entry_always_wins(
    scenario: oracle.Scenario, target: Target
) -> None:
    at, device, schedules = scenario
    override = entry(
        target=target,
        priority=max((e.priority for e in schedules), default=0) + 1,
        created_at=CREATED - timedelta(days=400),  # the oldest: age cannot be why it wins
    )
    expected = override if oracle.applies(override, device) else resolve(device, schedules, at)
    assert resolve(device, [*schedules, override], at) == expected


@PROPERTY
@given(
    at=oracle.INSTANTS,
    device=oracle.DEVICES,
    priority=st.integers(-2, 2),
    ages=st.permutations([0, 1, 2]),
)
def test_specificity_beats_age_at_equal_priority(
    at: datetime, device: DeviceProfile, priority: int, ages: list[int]
) -> None:
    created = [CREATED + timedelta(days=age) for age in ages]
    tenant = entry(priority=priority, created_at=created[0])
    group = entry(
        priority=priority, target=GroupTarget(device.groups | {"x"}), created_at=created[1]
    )
    own = entry(
        priority=priority, target=DeviceTarget(frozenset({device.id})), created_at=created[2]
    )
    assert resolve(device, [tenant, group, own], at) == own
    assert resolve(device, [tenant, group], at) == (group if device.groups else tenant)


@PROPERTY
@given(scenario=oracle.SCENARIOS, data=st.data(), day_offset=st.integers(-1, 1))
def test_window_edges_are_start_inclusive_end_exclusive(
    scenario: oracle.Scenario, data: st.DataObject, day_offset: int
) -> None:
    """At each window edge (and a microsecond before it) resolution agrees with the oracle,
    which places the edges at the DST-mapped instants, start inclusive, end exclusive."""
    at, device, _ = scenario
    schedule = oracle.draw_entry(data.draw, at)
    zone_name = schedule.timezone or device.timezone
    zone = zone_named(zone_name)
    day = at.astimezone(zone).date() + timedelta(days=day_offset)
    opens = schedule.start_time or time(0)
    closes = schedule.end_time or time(0)
    closes_day = (
        day if schedule.end_time is not None and closes > opens else day + timedelta(days=1)
    )
    for wall in (datetime.combine(day, opens), datetime.combine(closes_day, closes)):
        edge = oracle.first_instant(wall, zone_name)
        for instant in (edge, edge - timedelta(microseconds=1)):
            assert is_active(schedule, zone, instant) == oracle.active(schedule, device, instant)


@PROPERTY
@given(scenario=oracle.SCENARIOS, data=st.data())
def test_timeline_covers_the_horizon_and_agrees_with_resolution(
    scenario: oracle.Scenario, data: st.DataObject
) -> None:
    start, device, schedules = scenario
    book = ScheduleBook(schedules)
    slices = book.timeline(device, start)
    assert slices[0].start == start
    assert slices[-1].end == start + DAY
    for before, after in pairwise(slices):
        assert before.end == after.start  # contiguous, non-overlapping
        assert before.schedule_id != after.schedule_id  # boundaries are winner changes
    by_id = {e.id: e for e in schedules}
    for piece in slices:
        assert piece.start < piece.end
        expected = by_id[piece.schedule_id] if piece.schedule_id else None
        assert piece.playlist_id == (expected.playlist_id if expected else None)
        length_us = (piece.end - piece.start) // timedelta(microseconds=1)
        inside = piece.start + timedelta(microseconds=data.draw(st.integers(0, length_us - 1)))
        for instant in (piece.start, inside, piece.end - timedelta(microseconds=1)):
            assert book.resolve(device, instant) == expected
        assert oracle.winner(schedules, device, piece.start) == expected
