"""Wall-clock times to instants: the DST rule (first instant showing that time or later)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.domain.wall_clock import at_wall_time, local_date, to_utc, zone_named
from actors.errors import Invalid
from tests.domain.schedule_oracle import INSTANTS, ZONES, first_instant


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "day", "clock", "expected"),
    [
        # Berlin spring-forward 2024-03-31 02:00 CET -> 03:00 CEST: the gap collapses on 03:00.
        ("Europe/Berlin", date(2024, 3, 31), time(2, 0), utc(2024, 3, 31, 1, 0)),
        ("Europe/Berlin", date(2024, 3, 31), time(2, 30), utc(2024, 3, 31, 1, 0)),
        ("Europe/Berlin", date(2024, 3, 31), time(3, 0), utc(2024, 3, 31, 1, 0)),
        ("Europe/Berlin", date(2024, 3, 31), time(1, 59), utc(2024, 3, 31, 0, 59)),
        # Berlin fall-back 2024-10-27 03:00 CEST -> 02:00 CET: the first 02:30 counts.
        ("Europe/Berlin", date(2024, 10, 27), time(2, 30), utc(2024, 10, 27, 0, 30)),
        ("Europe/Berlin", date(2024, 10, 27), time(3, 0), utc(2024, 10, 27, 2, 0)),
        # New York spring-forward 2024-03-10 02:00 EST -> 03:00 EDT.
        ("America/New_York", date(2024, 3, 10), time(2, 15), utc(2024, 3, 10, 7, 0)),
        # New York fall-back 2024-11-03 02:00 EDT -> 01:00 EST: 01:30 EDT, not EST.
        ("America/New_York", date(2024, 11, 3), time(1, 30), utc(2024, 11, 3, 5, 30)),
        # Lord Howe moves by 30 minutes.
        ("Australia/Lord_Howe", date(2024, 10, 6), time(2, 15), utc(2024, 10, 5, 15, 30)),
        # Samoa skipped 2011-12-30: every time of that day is the jump to Dec 31.
        ("Pacific/Apia", date(2011, 12, 30), time(0, 0), utc(2011, 12, 30, 10, 0)),
        ("Pacific/Apia", date(2011, 12, 30), time(18, 0), utc(2011, 12, 30, 10, 0)),
        # Sao Paulo's 2018 spring-forward skipped midnight itself.
        ("America/Sao_Paulo", date(2018, 11, 4), time(0, 0), utc(2018, 11, 4, 3, 0)),
    ],
)
def test_wall_time_maps_to_first_instant_showing_it(
    zone: str, day: date, clock: time, expected: datetime
) -> None:
    assert at_wall_time(day, clock, zone_named(zone)) == expected


def test_days_later_counts_calendar_days_not_24_hours() -> None:
    berlin = zone_named("Europe/Berlin")
    start = at_wall_time(date(2024, 3, 30), time(12), berlin)
    assert at_wall_time(date(2024, 3, 30), time(12), berlin, days_later=1) - start == timedelta(
        hours=23
    )


@settings(max_examples=300, deadline=None)
@given(instant=INSTANTS, zone_name=st.sampled_from(ZONES), minutes=st.integers(-180, 180))
def test_wall_time_mapping_agrees_with_brute_force(
    instant: datetime, zone_name: str, minutes: int
) -> None:
    zone = zone_named(zone_name)
    wall = instant.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
    wall += timedelta(minutes=minutes)
    assert at_wall_time(wall.date(), wall.time(), zone) == first_instant(wall, zone_name)


@settings(max_examples=300, deadline=None)
@given(
    instant=INSTANTS,
    zone_name=st.sampled_from(ZONES),
    first=st.integers(-240, 240),
    second=st.integers(-240, 240),
)
def test_later_wall_time_never_maps_to_earlier_instant(
    instant: datetime, zone_name: str, first: int, second: int
) -> None:
    zone = zone_named(zone_name)
    wall = instant.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
    early, late = sorted((wall + timedelta(minutes=first), wall + timedelta(minutes=second)))
    assert at_wall_time(early.date(), early.time(), zone) <= at_wall_time(
        late.date(), late.time(), zone
    )


@pytest.mark.parametrize(
    "name", ["", "Mars/Olympus", "../etc/passwd", "/etc/localtime", "localtime", "UTC ", "a" * 80]
)
def test_unknown_or_host_dependent_zone_is_invalid(name: str) -> None:
    with pytest.raises(Invalid) as caught:
        zone_named(name, field="tz")
    assert caught.value.field == "tz"


def test_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        to_utc(datetime(2024, 1, 1))


def test_local_date_follows_the_zone() -> None:
    assert local_date(utc(2024, 1, 1, 23, 30), zone_named("Europe/Berlin")) == date(2024, 1, 2)


@pytest.mark.parametrize(
    "instant",
    [
        datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
        datetime(9999, 12, 31, 23, 30, tzinfo=timezone(-timedelta(hours=1))),
    ],
)
def test_an_instant_with_no_utc_equivalent_is_invalid_not_an_overflow(instant: datetime) -> None:
    """Issue 14, L3: an offset near year 1 or 9999 used to escape as OverflowError (500)."""
    with pytest.raises(Invalid) as caught:
        to_utc(instant, "valid_from")
    assert caught.value.field == "valid_from"


def test_the_extreme_representable_instants_convert() -> None:
    assert to_utc(datetime(1, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))) == datetime(
        1, 1, 1, tzinfo=UTC
    )
    assert to_utc(datetime(9999, 12, 31, 23, 59, tzinfo=UTC)).year == 9999
