"""Schedule value types: what plays where and when, as data.

A :class:`ScheduleEntry` says "play this playlist on these screens, at this priority,
between these dates, on these weekdays, in this daily window, in this time zone".
Who wins when several entries apply is :mod:`actors.domain.schedule_resolution`'s job;
the operator-facing rules are in ``docs/scheduling.md``.

All instants are timezone-aware; the resolution functions compare them in UTC.
Entries are built by the store (trusted rows) or by the edge from a request, in which
case :func:`validate_schedule` must pass before the entry is persisted.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from enum import StrEnum
from typing import Annotated
from uuid import UUID

import msgspec

from actors.domain.targets import DeviceTarget, GroupTarget, Target
from actors.domain.wall_clock import zone_named
from actors.errors import Invalid

Instant = Annotated[datetime, msgspec.Meta(tz=True)]
"""An aware datetime (decoding refuses naive ones)."""

ISO_WEEKDAYS = frozenset(range(1, 8))
"""Monday = 1 … Sunday = 7, as ``date.isoweekday()``."""

# Priorities are stored in a PostgreSQL ``integer`` column.
PRIORITY_MIN = -(2**31)
PRIORITY_MAX = 2**31 - 1

_HH_MM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")  # not \d: it matches any Unicode digit


class DeviceProfile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What resolution needs to know about a screen.

    ``timezone`` is the device's IANA zone; a device claimed without one should be given
    the tenant's (or ``"UTC"``) by the caller — resolution never guesses.
    """

    id: UUID
    timezone: str
    groups: frozenset[str] = frozenset()


class ScheduleEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One schedule entry of a tenant.

    - ``starts_at``/``ends_at``: absolute instants, ``[starts_at, ends_at)``; ``None`` means
      unbounded on that side.
    - ``days_of_week``: ISO weekdays (1 = Monday) *on which a daily window opens*, in the
      entry's zone; ``None`` means every day.
    - ``start_time``/``end_time``: wall-clock daily window ``[start, end)`` in the entry's
      zone; a missing start is 00:00, a missing end is the next midnight; an end at or
      before the start crosses midnight (an end equal to the start makes a 24-hour window).
    - ``timezone``: IANA zone for the weekdays and the window; ``None`` means each
      device's own zone.
    - ``created_at`` and ``id`` break ties between otherwise equal entries (newest wins).
    """

    id: UUID
    playlist_id: UUID
    target: Target
    priority: int
    created_at: Instant
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    days_of_week: frozenset[int] | None = None
    start_time: time | None = None
    end_time: time | None = None
    timezone: str | None = None


class Slice(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``[start, end)`` during which ``schedule_id`` (playing ``playlist_id``) wins.

    Both ids are ``None`` when no entry applies: the screen shows its idle state.
    """

    start: Instant
    end: Instant
    schedule_id: UUID | None
    playlist_id: UUID | None


class Verdict(StrEnum):
    """Why an entry that applies to a screen plays at an instant, or does not.

    The first one that holds, in this order: the entry is outside its dates
    (``not_started``, ``ended``), its weekdays (``outside_days``: a window would be open
    now had it opened on an excluded day) or its daily window (``outside_hours``); else it
    is active and either ``wins`` or is outranked by the winner on the first rank rule
    that tells them apart (``lower_priority``, ``less_specific_target``, ``older``,
    ``lower_id``).
    """

    WINS = "wins"
    LOWER_PRIORITY = "lower_priority"
    LESS_SPECIFIC_TARGET = "less_specific_target"
    OLDER = "older"
    LOWER_ID = "lower_id"
    NOT_STARTED = "not_started"
    ENDED = "ended"
    OUTSIDE_DAYS = "outside_days"
    OUTSIDE_HOURS = "outside_hours"


class Candidate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An entry that applies to a screen, the zone its weekdays and window were read in,
    and its :class:`Verdict` at the instant asked about."""

    entry: ScheduleEntry
    zone: str
    verdict: Verdict


class Resolution(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What plays on ``device`` at the instant ``slice.start`` and why.

    ``slice`` is the one-microsecond timeline ``[at, at + 1 µs)`` painted by the very code
    that paints manifests' timelines; ``candidates`` are every entry that applies to the
    device, best-ranked first, exactly one of them ``wins`` when ``slice`` names an entry.
    """

    device: DeviceProfile
    slice: Slice
    candidates: tuple[Candidate, ...]

    @property
    def at(self) -> datetime:
        return self.slice.start

    @property
    def winner(self) -> ScheduleEntry | None:
        for candidate in self.candidates:
            if candidate.verdict is Verdict.WINS:
                return candidate.entry
        return None


def parse_wall_time(text: str, field: str) -> time:
    """``"HH:MM"`` (24-hour clock, ``00:00`` to ``23:59``) as a :class:`~datetime.time`.

    :raises Invalid: (naming ``field``) for anything else, ``"24:00"`` included: an end
    of day is written by leaving ``end_time`` out, or as ``"00:00"``.
    """
    match = _HH_MM.fullmatch(text)
    if match is None:
        raise Invalid(f"expected a time of day as HH:MM, got {text!r}", field=field)
    return time(int(match.group(1)), int(match.group(2)))


def validate_schedule(entry: ScheduleEntry) -> None:
    """Check the rules a new or changed entry must satisfy before it is stored.

    :raises Invalid: naming the offending field.
    """
    if not PRIORITY_MIN <= entry.priority <= PRIORITY_MAX:
        raise Invalid(f"priority must lie in [{PRIORITY_MIN}, {PRIORITY_MAX}]", field="priority")
    target = entry.target
    if isinstance(target, GroupTarget) and (
        not target.groups or any(not group.strip() for group in target.groups)
    ):
        raise Invalid("a group target needs at least one non-blank group", field="target")
    if isinstance(target, DeviceTarget) and not target.device_ids:
        raise Invalid("a device target needs at least one device id", field="target")
    for name, instant in (
        ("created_at", entry.created_at),
        ("starts_at", entry.starts_at),
        ("ends_at", entry.ends_at),
    ):
        if instant is not None and instant.utcoffset() is None:
            raise Invalid("instants must carry a UTC offset", field=name)
    if (
        entry.starts_at is not None
        and entry.ends_at is not None
        and entry.ends_at <= entry.starts_at
    ):
        raise Invalid("ends_at must be later than starts_at", field="ends_at")
    if entry.days_of_week is not None:
        if not entry.days_of_week:
            raise Invalid(
                "days_of_week must name at least one day (leave it out for every day)",
                field="days_of_week",
            )
        if not entry.days_of_week <= ISO_WEEKDAYS:
            raise Invalid("days_of_week are ISO weekdays 1 (Monday) to 7", field="days_of_week")
    for name, clock in (("start_time", entry.start_time), ("end_time", entry.end_time)):
        if clock is not None and (clock.tzinfo is not None or clock.second or clock.microsecond):
            raise Invalid("a daily time is a plain HH:MM wall-clock time", field=name)
    if entry.timezone is not None:
        zone_named(entry.timezone, field="timezone")
