"""Which schedule entry plays on a screen, now and over the next hours — pure functions.

Rules (operators' version in ``docs/scheduling.md``):

1. An entry *applies* to a device when its target names the device, one of the device's
   groups, or the whole tenant.
2. It is *active* at an instant when the instant lies in ``[starts_at, ends_at)`` and in
   one of its daily windows; a window belongs to the day (in the entry's zone, else the
   device's) on which it opens, and wall-clock times map to instants by the rule of
   :mod:`actors.domain.wall_clock`.
3. Among the applicable, active entries the winner is the one with the highest
   ``priority``; then the most specific target (device > group > tenant); then the newest
   ``created_at``; then the greatest ``id`` — so the answer never depends on input order.

:class:`ScheduleBook` ranks a tenant's entries once and answers for any number of devices;
a timeline batch groups devices that see the same entries in the same zone and computes
each entry's active intervals once per zone, so 5,000 screens cost a few distinct
timelines, not 5,000 (``bench/schedule_resolution.py`` measures it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from actors.domain.schedule_types import DeviceProfile, ScheduleEntry, Slice
from actors.domain.targets import DeviceTarget, GroupTarget, TenantTarget
from actors.domain.wall_clock import at_wall_time, local_date, to_utc, zone_named

DAY = timedelta(hours=24)
_MIDNIGHT = time(0, 0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

_Interval = tuple[datetime, datetime]


def rank_key(entry: ScheduleEntry) -> tuple[int, int, int, int]:
    """Sort key under which the best entry comes first (see rule 3)."""
    created_us = (entry.created_at - _EPOCH) // _MICROSECOND
    return (-entry.priority, -entry.target.specificity, -created_us, -entry.id.int)


def applies_to(entry: ScheduleEntry, device: DeviceProfile) -> bool:
    """Whether ``entry``'s target names ``device`` (rule 1)."""
    return entry.target.includes(device.id, device.groups)


def entry_zone(entry: ScheduleEntry, device: DeviceProfile) -> ZoneInfo:
    """The zone in which ``entry``'s weekdays and window are read for ``device``.

    :raises Invalid: if the zone name (the entry's, else the device's) is unknown.
    """
    return zone_named(entry.timezone if entry.timezone is not None else device.timezone)


def is_active(entry: ScheduleEntry, zone: ZoneInfo, at: datetime) -> bool:
    """Whether ``entry`` is active at the aware instant ``at``, its windows read in ``zone``
    (rule 2). Window starts are inclusive, ends exclusive."""
    at = to_utc(at)
    if not _in_date_range(entry, at):
        return False
    if _every_moment(entry):
        return True
    today = local_date(at, zone)
    # A window spans at most 24 wall-clock hours from its opening day; a fall-back across
    # midnight can make the clock show the previous date inside the next day's window.
    first, last = today - timedelta(days=2), today + timedelta(days=1)
    return any(start <= at < end for start, end in _windows(entry, zone, first, last))


class ScheduleBook:
    """One tenant's schedule entries, ranked once; answers for any device and instant.

    Its answers never change after construction (it only memoises candidate lists);
    build a new book when the entries change.

    :raises ValueError: if two entries share an id (the ranking would be ambiguous).
    """

    __slots__ = ("_by_device", "_by_group", "_entries", "_group_memo", "_tenant_wide")

    def __init__(self, entries: Iterable[ScheduleEntry]) -> None:
        ranked = sorted(entries, key=rank_key)
        if len({entry.id for entry in ranked}) != len(ranked):
            raise ValueError("schedule entries must have distinct ids")
        self._entries: tuple[ScheduleEntry, ...] = tuple(ranked)
        self._tenant_wide: list[int] = []
        self._by_group: dict[str, list[int]] = {}
        self._by_device: dict[UUID, list[int]] = {}
        for index, entry in enumerate(ranked):
            target = entry.target
            if isinstance(target, TenantTarget):
                self._tenant_wide.append(index)
            elif isinstance(target, GroupTarget):
                for group in target.groups:
                    self._by_group.setdefault(group, []).append(index)
            else:
                assert isinstance(target, DeviceTarget)
                for device_id in target.device_ids:
                    self._by_device.setdefault(device_id, []).append(index)
        # Devices mostly share a few group combinations: memoise their candidate lists.
        self._group_memo: dict[frozenset[str], tuple[int, ...]] = {}

    @property
    def entries(self) -> tuple[ScheduleEntry, ...]:
        """The entries, best-ranked first."""
        return self._entries

    def resolve(self, device: DeviceProfile, at: datetime) -> ScheduleEntry | None:
        """The entry playing on ``device`` at the aware instant ``at``, or ``None``."""
        for index in self._candidates(device):
            entry = self._entries[index]
            if is_active(entry, entry_zone(entry, device), at):
                return entry
        return None

    def timeline(
        self, device: DeviceProfile, start: datetime, horizon: timedelta = DAY
    ) -> tuple[Slice, ...]:
        """The winners over ``[start, start + horizon)`` for one device (see :meth:`timelines`)."""
        return self.timelines((device,), start, horizon)[device.id]

    def timelines(
        self, devices: Iterable[DeviceProfile], start: datetime, horizon: timedelta = DAY
    ) -> dict[UUID, tuple[Slice, ...]]:
        """Each device's winners over ``[start, start + horizon)``, by device id.

        Every timeline is contiguous, non-overlapping, starts at ``start``, ends at
        ``start + horizon`` (both in UTC) and never has two neighbouring slices with the
        same entry: a boundary is exactly a change of winner. At any instant inside a
        slice, :meth:`resolve` names the slice's entry.

        :raises ValueError: if ``horizon`` is not positive or ``start`` is naive.
        :raises Invalid: if a device's or an entry's time zone is unknown.
        """
        if horizon <= timedelta(0):
            raise ValueError("horizon must be positive")
        span = (to_utc(start), to_utc(start) + horizon)
        intervals: dict[tuple[int, str], list[_Interval]] = {}
        by_signature: dict[tuple[str, tuple[int, ...]], tuple[Slice, ...]] = {}
        result: dict[UUID, tuple[Slice, ...]] = {}
        for device in devices:
            signature = (device.timezone, self._candidates(device))
            slices = by_signature.get(signature)
            if slices is None:
                slices = self._paint(device, signature[1], span, intervals)
                by_signature[signature] = slices
            result[device.id] = slices
        return result

    def _candidates(self, device: DeviceProfile) -> tuple[int, ...]:
        """Indices of the entries that apply to ``device``, best-ranked first."""
        shared = self._group_memo.get(device.groups)
        if shared is None:
            merged = set(self._tenant_wide)
            for group in device.groups:
                merged.update(self._by_group.get(group, ()))
            shared = tuple(sorted(merged))
            self._group_memo[device.groups] = shared
        own = self._by_device.get(device.id)
        return shared if own is None else tuple(sorted((*shared, *own)))

    def _paint(
        self,
        device: DeviceProfile,
        candidates: tuple[int, ...],
        span: _Interval,
        memo: dict[tuple[int, str], list[_Interval]],
    ) -> tuple[Slice, ...]:
        # Best entry first: each claims the still-unclaimed parts of its active intervals.
        unclaimed: list[_Interval] = [span]
        claimed: list[tuple[datetime, datetime, int | None]] = []
        for index in candidates:
            entry = self._entries[index]
            zone_name = entry.timezone if entry.timezone is not None else device.timezone
            active = memo.get((index, zone_name))
            if active is None:
                active = _active_intervals(entry, zone_named(zone_name), span)
                memo[(index, zone_name)] = active
            if active:
                unclaimed = _claim(unclaimed, active, index, claimed)
                if not unclaimed:
                    break
        claimed.extend((lo, hi, None) for lo, hi in unclaimed)
        claimed.sort(key=lambda piece: piece[0])
        merged: list[tuple[datetime, datetime, int | None]] = []
        for lo, hi, winner in claimed:
            if merged and merged[-1][2] == winner:
                merged[-1] = (merged[-1][0], hi, winner)
            else:
                merged.append((lo, hi, winner))
        slices = tuple(
            Slice(lo, hi, None, None)
            if winner is None
            else Slice(lo, hi, self._entries[winner].id, self._entries[winner].playlist_id)
            for lo, hi, winner in merged
        )
        return slices


def resolve(
    device: DeviceProfile, entries: Iterable[ScheduleEntry], at: datetime
) -> ScheduleEntry | None:
    """The entry playing on ``device`` at ``at`` (a one-off :meth:`ScheduleBook.resolve`)."""
    return ScheduleBook(entries).resolve(device, at)


def timeline(
    device: DeviceProfile,
    entries: Iterable[ScheduleEntry],
    start: datetime,
    horizon: timedelta = DAY,
) -> tuple[Slice, ...]:
    """One device's slices over ``[start, start + horizon)``; see
    :meth:`ScheduleBook.timelines`."""
    return ScheduleBook(entries).timeline(device, start, horizon)


def _claim(
    unclaimed: list[_Interval],
    active: list[_Interval],
    index: int,
    claimed: list[tuple[datetime, datetime, int | None]],
) -> list[_Interval]:
    """Move the parts of ``unclaimed`` covered by ``active`` (sorted, disjoint) to
    ``claimed`` under ``index``; return what stays unclaimed."""
    remaining: list[_Interval] = []
    for lo, hi in unclaimed:
        cursor = lo
        for start, end in active:
            if end <= cursor:
                continue
            if start >= hi:
                break
            if start > cursor:
                remaining.append((cursor, start))
            cursor = min(end, hi)
            claimed.append((max(start, lo), cursor, index))
            if cursor >= hi:
                break
        if cursor < hi:
            remaining.append((cursor, hi))
    return remaining


def _active_intervals(entry: ScheduleEntry, zone: ZoneInfo, span: _Interval) -> list[_Interval]:
    """``entry``'s active time within ``span`` as sorted, disjoint, non-adjacent intervals."""
    lo, hi = span
    if entry.starts_at is not None:
        lo = max(lo, to_utc(entry.starts_at))
    if entry.ends_at is not None:
        hi = min(hi, to_utc(entry.ends_at))
    if lo >= hi:
        return []
    if _every_moment(entry):
        return [(lo, hi)]
    first = local_date(lo, zone) - timedelta(days=2)
    last = local_date(hi, zone) + timedelta(days=1)
    merged: list[_Interval] = []
    for start, end in _windows(entry, zone, first, last):
        start, end = max(start, lo), min(end, hi)
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _windows(entry: ScheduleEntry, zone: ZoneInfo, first: date, last: date) -> list[_Interval]:
    """The non-empty daily windows opening on the days ``first``…``last`` (inclusive), in
    order; consecutive windows never overlap because the wall-clock map is monotone."""
    opens = entry.start_time if entry.start_time is not None else _MIDNIGHT
    closes = entry.end_time
    windows: list[_Interval] = []
    day = first
    while day <= last:
        if entry.days_of_week is None or day.isoweekday() in entry.days_of_week:
            start = at_wall_time(day, opens, zone)
            if closes is None:
                end = at_wall_time(day, _MIDNIGHT, zone, days_later=1)
            else:
                end = at_wall_time(day, closes, zone, days_later=0 if closes > opens else 1)
            if start < end:
                windows.append((start, end))
        day += timedelta(days=1)
    return windows


def _in_date_range(entry: ScheduleEntry, at: datetime) -> bool:
    if entry.starts_at is not None and at < entry.starts_at:
        return False
    return entry.ends_at is None or at < entry.ends_at


def _every_moment(entry: ScheduleEntry) -> bool:
    """No weekday filter and no daily window: active throughout its date range."""
    return entry.days_of_week is None and entry.start_time is None and entry.end_time is None
