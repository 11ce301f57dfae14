"""A slow, independent restatement of the scheduling rules, and Hypothesis strategies.

The oracle re-derives "the first instant whose wall clock shows W or later" by trying every
UTC offset the zone used around W (and scanning minute by minute through a gap) instead of
the production code's fold/bisection, and re-implements the winner ranking from the
documented rule. Property tests compare the production functions against it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import NamedTuple, Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from actors.domain.schedule_types import DeviceProfile, ScheduleEntry
from actors.domain.targets import DeviceTarget, GroupTarget, Target, TenantTarget

ZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "America/Sao_Paulo",  # (until 2019) DST changes at midnight
    "Pacific/Apia",  # skipped 2011-12-30 entirely
    "America/Santiago",  # DST changes at midnight
    "America/Goose_Bay",  # (until 2010) fell back from 00:01 to the previous day's 23:01
    "Asia/Kolkata",  # +05:30, no DST
)
GROUPS = ("lobby", "cafeteria", "floor-2")
DEVICE_IDS = tuple(UUID(int=n) for n in range(1, 5))
_YEARS = (2005, 2011, 2018, 2019, 2024, 2025)


def _transitions(zone_name: str) -> list[datetime]:
    zone = ZoneInfo(zone_name)
    found: list[datetime] = []
    for year in _YEARS:
        t = datetime(year, 1, 1, tzinfo=UTC)
        while t.year == year:
            step = t + timedelta(days=1)
            if t.astimezone(zone).utcoffset() != step.astimezone(zone).utcoffset():
                low, high = t, step
                while high - low > timedelta(seconds=1):
                    mid = low + (high - low) / 2
                    if mid.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset():
                        low = mid
                    else:
                        high = mid
                found.append(high.replace(microsecond=0))
            t = step
    return found


TRANSITIONS = tuple(sorted({t for name in ZONES for t in _transitions(name)}))


INSTANTS: st.SearchStrategy[datetime] = st.one_of(
    # within a day of some DST transition of the test zones ...
    st.builds(
        lambda t, minutes: t + timedelta(minutes=minutes),
        st.sampled_from(TRANSITIONS),
        st.integers(-26 * 60, 26 * 60),
    ),
    # ... or anywhere in 2011-2026.
    st.datetimes(
        min_value=datetime(2011, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
    ),
)
WALL_TIMES: st.SearchStrategy[time] = st.one_of(
    st.sampled_from([time(0), time(1, 30), time(2), time(2, 30), time(3), time(6), time(22)]),
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
)
TARGETS: st.SearchStrategy[Target] = st.one_of(
    st.just(TenantTarget()),
    st.builds(GroupTarget, st.frozensets(st.sampled_from(GROUPS), min_size=1)),
    st.builds(DeviceTarget, st.frozensets(st.sampled_from(DEVICE_IDS), min_size=1)),
)
DEVICES: st.SearchStrategy[DeviceProfile] = st.builds(
    DeviceProfile,
    id=st.sampled_from(DEVICE_IDS),
    timezone=st.sampled_from(ZONES),
    groups=st.frozensets(st.sampled_from(GROUPS)),
)
_OFFSET = st.none() | st.integers(-3 * 24 * 60, 3 * 24 * 60)
_DAYS = st.none() | st.frozensets(st.integers(1, 7), min_size=1)
_CLOCK = st.none() | WALL_TIMES
_ZONE = st.none() | st.sampled_from(ZONES)


class Draw(Protocol):
    """``st.DataObject.draw`` or a composite's ``draw``."""

    def __call__[T](self, strategy: st.SearchStrategy[T], /) -> T: ...


def draw_entry(draw: Draw, around: datetime) -> ScheduleEntry:
    """A schedule entry whose date range (if any) lies within three days of ``around``.

    A plain function over module-level strategies: building strategies per example is
    what makes Hypothesis slow.
    """
    starts, ends = draw(_OFFSET), draw(_OFFSET)
    starts_at = None if starts is None else around + timedelta(minutes=starts)
    ends_at = None if ends is None else around + timedelta(minutes=ends)
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        starts_at, ends_at = ends_at, starts_at + timedelta(hours=1)
    return ScheduleEntry(
        id=draw(st.uuids()),
        playlist_id=draw(st.uuids()),
        target=draw(TARGETS),
        priority=draw(st.integers(-2, 2)),
        created_at=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=draw(st.integers(0, 3))),
        starts_at=starts_at,
        ends_at=ends_at,
        days_of_week=draw(_DAYS),
        start_time=draw(_CLOCK),
        end_time=draw(_CLOCK),
        timezone=draw(_ZONE),
    )


class Scenario(NamedTuple):
    at: datetime
    device: DeviceProfile
    entries: list[ScheduleEntry]


@st.composite
def _scenarios(draw: st.DrawFn) -> Scenario:
    at = draw(INSTANTS)
    count = draw(st.integers(0, 6))
    entries: dict[UUID, ScheduleEntry] = {}
    for _ in range(count):
        entry = draw_entry(draw, at)
        entries.setdefault(entry.id, entry)
    return Scenario(at, draw(DEVICES), list(entries.values()))


SCENARIOS: st.SearchStrategy[Scenario] = _scenarios()
"""An instant, a device, and up to six entries (distinct ids) with date ranges near it."""


# --- the oracle ----------------------------------------------------------------------------


@cache
def first_instant(wall: datetime, zone_name: str) -> datetime:
    """The first instant at which ``zone_name``'s clocks show ``wall`` or later."""
    zone = ZoneInfo(zone_name)
    offsets = {
        (wall + timedelta(hours=hours)).replace(tzinfo=zone).utcoffset()
        for hours in range(-36, 37, 3)
    }
    shown = [
        (wall - offset).replace(tzinfo=UTC)
        for offset in offsets
        if offset is not None and _wall((wall - offset).replace(tzinfo=UTC), zone) == wall
    ]
    if shown:
        return min(shown)
    # Skipped by a jump: walk up to it from the earliest candidate, then to the second.
    t = (wall - max(o for o in offsets if o is not None)).replace(tzinfo=UTC)
    while _wall(t, zone) >= wall:
        t -= timedelta(minutes=1)
    while _wall(t, zone) < wall:
        t += timedelta(minutes=1)
    while _wall(t - timedelta(seconds=1), zone) >= wall:
        t -= timedelta(seconds=1)
    return t


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def active(entry: ScheduleEntry, device: DeviceProfile, at: datetime) -> bool:
    if entry.starts_at is not None and at < entry.starts_at:
        return False
    if entry.ends_at is not None and at >= entry.ends_at:
        return False
    zone_name = entry.timezone or device.timezone
    today = at.astimezone(ZoneInfo(zone_name)).date()
    for days in range(-3, 3):
        day = today + timedelta(days=days)
        if entry.days_of_week is not None and day.isoweekday() not in entry.days_of_week:
            continue
        opens = entry.start_time or time(0)
        if entry.end_time is None:
            closes_wall = _at(day + timedelta(days=1), time(0))
        elif entry.end_time > opens:
            closes_wall = _at(day, entry.end_time)
        else:
            closes_wall = _at(day + timedelta(days=1), entry.end_time)
        if first_instant(_at(day, opens), zone_name) <= at < first_instant(closes_wall, zone_name):
            return True
    return False


def applies(entry: ScheduleEntry, device: DeviceProfile) -> bool:
    target = entry.target
    if isinstance(target, TenantTarget):
        return True
    if isinstance(target, GroupTarget):
        return bool(target.groups & device.groups)
    return device.id in target.device_ids


def winner(
    entries: list[ScheduleEntry], device: DeviceProfile, at: datetime
) -> ScheduleEntry | None:
    playing = [e for e in entries if applies(e, device) and active(e, device, at)]
    return max(
        playing,
        key=lambda e: (e.priority, _specificity(e.target), e.created_at, e.id.int),
        default=None,
    )


def _specificity(target: Target) -> int:
    if isinstance(target, DeviceTarget):
        return 2
    return 1 if isinstance(target, GroupTarget) else 0


def _at(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock)
