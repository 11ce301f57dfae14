"""Wall-clock times in a named time zone, mapped to instants — the DST rules.

Schedules speak wall-clock ("weekdays 08:00 to 18:00 in Europe/Berlin"); devices and the
database speak instants (aware UTC datetimes). This module is the one place that turns
the former into the latter, with one rule that covers both daylight-saving anomalies:

    A wall-clock time takes effect at the **first instant at which the zone's clock
    shows that time or later**.

- In the *repeated* hour at fall-back (02:30 happens twice in Berlin on the last Sunday of
  October) that is the **first** occurrence (PEP 495 ``fold=0``).
- In the *skipped* hour at spring-forward (02:30 never happens in Berlin on the last
  Sunday of March) that is the **moment of the jump** (03:00 CEST): every time inside the
  gap collapses onto it, so a window lying wholly inside the gap is empty that day.

The mapping is monotone (a later wall time never maps to an earlier instant), so a
window's end never precedes its start; ``fold=0`` alone (the stdlib default) is not
monotone inside a gap, which is why the gap is handled here explicitly.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from actors.errors import Invalid

# IANA names only ("Europe/Berlin", "UTC", "Etc/GMT+5", "America/Argentina/Buenos_Aires").
# Host-dependent pseudo-zones would make the same schedule mean different things on
# different nodes, so they are refused even though zoneinfo would load them.
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")
_HOST_DEPENDENT = frozenset({"localtime", "posixrules", "Factory"})
_ONE_SECOND = timedelta(seconds=1)
# (day, time, zone) triples memoised: a 200-entry tenant in four zones needs ~8,000 for a
# 24-hour batch; the bound keeps a many-tenant node's memory flat.
_WALL_CACHE_SIZE = 16_384


def zone_named(name: str, field: str = "timezone") -> ZoneInfo:
    """The IANA time zone called ``name``.

    :raises Invalid: (naming ``field``) if ``name`` is not an IANA zone on this system.
    """
    if len(name) > 64 or not _ZONE_NAME.fullmatch(name) or name in _HOST_DEPENDENT:
        raise Invalid(f"not an IANA time zone name: {name!r}", field=field)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise Invalid(f"unknown time zone: {name!r}", field=field) from None


def to_utc(instant: datetime, field: str | None = None) -> datetime:
    """``instant`` expressed in UTC. Naive datetimes are a programming error.

    An offset can move an instant of year 1 or 9999 out of what a datetime holds
    (``0001-01-01T00:30+01:00`` is in year 0 in UTC): that is the caller's bad input.

    :raises ValueError: if ``instant`` is naive.
    :raises Invalid: (naming ``field``) if ``instant`` has no UTC equivalent in years
        1 to 9999.
    """
    if instant.utcoffset() is None:
        raise ValueError("instants must be timezone-aware")
    try:
        return instant.astimezone(UTC)
    except OverflowError:
        raise Invalid(
            f"{instant.isoformat()} lies outside the years 1 to 9999 in UTC", field=field
        ) from None


def local_date(instant: datetime, zone: ZoneInfo) -> date:
    """The calendar date the zone's clocks show at ``instant``."""
    return instant.astimezone(zone).date()


def at_wall_time(day: date, clock: time, zone: ZoneInfo, *, days_later: int = 0) -> datetime:
    """The instant (UTC) at which ``day + days_later`` at ``clock`` takes effect in ``zone``.

    See the module docstring for the rule in the skipped and the repeated hour.
    """
    return _first_instant(datetime.combine(day + timedelta(days=days_later), clock), zone)


@lru_cache(maxsize=_WALL_CACHE_SIZE)
def _first_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    # Pure and called with the same few (day, time, zone) triples by every device of a
    # tenant; the cache turns a timeline batch into dictionary look-ups.
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _wall(first, zone) == wall:
        return first  # exists; fold=0 is its first occurrence when it happens twice
    # In a gap: fold=0 applied the offset in force before the jump (an instant after it),
    # fold=1 the offset after the jump (an instant before it). The jump lies between;
    # find the first instant whose wall time has reached ``wall`` by bisection (whole
    # seconds: tzdata transitions happen on whole seconds).
    other = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = min(first, other), max(first, other)
    if not (_wall(low, zone) < wall <= _wall(high, zone)):
        # Not a plain gap (cannot happen with tzdata as published): the later candidate
        # is still a deterministic, monotone choice.
        return high
    while high - low > _ONE_SECOND:
        middle = low + max(_ONE_SECOND, (high - low) // 2 // _ONE_SECOND * _ONE_SECOND)
        if _wall(middle, zone) >= wall:
            high = middle
        else:
            low = middle
    return high


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)
