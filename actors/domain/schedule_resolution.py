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

There is one decision procedure, the painter behind :meth:`ScheduleBook.timelines` (each
entry, best-ranked first, claims the still-unclaimed parts of its active intervals), and
one activity rule, ``_active_intervals``. :meth:`ScheduleBook.explain` answers for one
instant by painting the one-microsecond timeline ``[at, at + 1 µs)`` with them and says
of every other applicable entry why it does not play (a :class:`~actors.domain.
schedule_types.Verdict`); :meth:`ScheduleBook.resolve` and :func:`is_active` are that
same painting seen from one side. So "why is this playing" and the manifest can never
disagree about the winner.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec

from actors.domain.schedule_types import (
    Candidate,
    DeviceProfile,
    Resolution,
    ScheduleEntry,
    Slice,
    Verdict,
)
from actors.domain.targets import DeviceTarget, GroupTarget, TenantTarget
from actors.domain.wall_clock import at_wall_time, local_date, to_utc, zone_named

DAY = timedelta(hours=24)
_MIDNIGHT = time(0, 0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# A window opens on a day within two days before the instant's local date (see
# ``_active_intervals``); instants this close to the ends of ``datetime`` are refused.
_EARLIEST = datetime(1, 1, 8, tzinfo=UTC)
_LATEST = datetime(9999, 12, 24, tzinfo=UTC)
# Rank-key positions, in rule order: which rule tells a loser from the winner.
_OUTRANKED_BY = (
    Verdict.LOWER_PRIORITY,
    Verdict.LESS_SPECIFIC_TARGET,
    Verdict.OLDER,
    Verdict.LOWER_ID,
)

_Interval = tuple[datetime, datetime]


def rank_key(entry: ScheduleEntry) -> tuple[int, int, int, int]:
    """Sort key under which the best entry comes first (see rule 3)."""
    created_us = (entry.created_at - _EPOCH) // _MICROSECOND
    return (-entry.priority, -entry.target.specificity, -created_us, -entry.id.int)


def applies_to(entry: ScheduleEntry, device: DeviceProfile) -> bool:
    """Whether ``entry``'s target names ``device`` (rule 1)."""
    return entry.target.includes(device.id, device.groups)


def zone_name_of(entry: ScheduleEntry, device: DeviceProfile) -> str:
    """The name of the zone in which ``entry``'s weekdays and window are read for
    ``device``: the entry's own, else the device's."""
    return entry.timezone if entry.timezone is not None else device.timezone


def is_active(entry: ScheduleEntry, zone: ZoneInfo, at: datetime) -> bool:
    """Whether ``entry`` is active at the aware instant ``at``, its windows read in ``zone``
    (rule 2). Window starts are inclusive, ends exclusive.

    :raises ValueError: if ``at`` is naive or within a week of the ends of ``datetime``.
    """
    return bool(_active_intervals(entry, zone, _instant(at)))


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
        """The entry playing on ``device`` at the aware instant ``at``, or ``None``
        (:meth:`explain`'s winner)."""
        return self.explain(device, at).winner

    def explain(self, device: DeviceProfile, at: datetime) -> Resolution:
        """Who plays on ``device`` at the aware instant ``at``, and why each other entry
        that applies to it does not.

        The winner is the entry :meth:`timelines` names at ``at`` (the same painter paints
        ``[at, at + 1 µs)``); each other candidate's :class:`Verdict` comes from the same
        activity rule and from the rank key that orders the painting.

        :raises ValueError: if ``at`` is naive or within a week of the ends of ``datetime``.
        :raises Invalid: if the device's or an applicable entry's time zone is unknown.
        """
        span = _instant(at)
        candidates = self._candidates(device)
        memo: dict[tuple[int, str], list[_Interval]] = {}
        (piece,) = self._paint(device, candidates, span, memo)
        winner: ScheduleEntry | None = None
        explained: list[Candidate] = []
        for index in candidates:
            entry = self._entries[index]
            zone_name = zone_name_of(entry, device)
            if entry.id == piece.schedule_id:
                winner = entry
                verdict = Verdict.WINS
            else:
                # The painter stopped at the winner: entries after it are looked at here.
                zone = zone_named(zone_name)
                active = memo.get((index, zone_name))
                if active is None:
                    active = memo[(index, zone_name)] = _active_intervals(entry, zone, span)
                verdict = _outranked(entry, winner) if active else _idle(entry, zone, span)
            explained.append(Candidate(entry, zone_name, verdict))
        return Resolution(device, piece, tuple(explained))

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
            # Inline: this loop is the hot path of a tenant-wide recomputation.
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


def _instant(at: datetime) -> _Interval:
    """The one-microsecond span ``[at, at + 1 µs)`` that stands for the instant ``at``."""
    at = to_utc(at)
    if not _EARLIEST <= at < _LATEST:
        raise ValueError("instants within a week of the ends of datetime have no windows")
    return (at, at + _MICROSECOND)


def _outranked(entry: ScheduleEntry, winner: ScheduleEntry | None) -> Verdict:
    """The rank rule by which the active ``entry`` loses to ``winner``."""
    # The painter gives the span to the best-ranked active entry, so an active entry
    # that is not the winner ranks below it: some key component differs.
    assert winner is not None, "an active entry, yet the painting names no winner"
    keys = zip(rank_key(entry), rank_key(winner), strict=True)
    for rule, (mine, theirs) in zip(_OUTRANKED_BY, keys, strict=True):
        if mine != theirs:
            assert mine > theirs, "an active entry outranks the painted winner"
            return rule
    raise AssertionError("two entries with one rank key")


def _idle(entry: ScheduleEntry, zone: ZoneInfo, span: _Interval) -> Verdict:
    """Why ``entry``, inactive over ``span``, is: its dates, weekdays or daily window."""
    at = span[0]
    if entry.starts_at is not None and at < to_utc(entry.starts_at):
        return Verdict.NOT_STARTED
    if entry.ends_at is not None and at >= to_utc(entry.ends_at):
        return Verdict.ENDED
    if entry.days_of_week is not None:
        every_day = msgspec.structs.replace(entry, days_of_week=None)
        if _active_intervals(every_day, zone, span):
            return Verdict.OUTSIDE_DAYS
    return Verdict.OUTSIDE_HOURS


def _every_moment(entry: ScheduleEntry) -> bool:
    """No weekday filter and no daily window: active throughout its date range."""
    return entry.days_of_week is None and entry.start_time is None and entry.end_time is None
