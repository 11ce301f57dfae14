"""Schedule entries as data: parsing, validation, and their JSON form."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from uuid import UUID

import msgspec
import pytest

from actors.domain.schedule_types import (
    PRIORITY_MAX,
    ScheduleEntry,
    parse_wall_time,
    validate_schedule,
)
from actors.domain.targets import DeviceTarget, GroupTarget, TenantTarget
from actors.errors import Invalid

VALID = ScheduleEntry(
    id=UUID(int=1),
    playlist_id=UUID(int=2),
    target=GroupTarget(frozenset({"lobby"})),
    priority=10,
    created_at=datetime(2024, 1, 1, tzinfo=UTC),
    starts_at=datetime(2024, 5, 1, tzinfo=UTC),
    ends_at=datetime(2024, 6, 1, tzinfo=UTC),
    days_of_week=frozenset({1, 2, 3, 4, 5}),
    start_time=time(8),
    end_time=time(18),
    timezone="Europe/Berlin",
)


@pytest.mark.parametrize(
    ("text", "expected"), [("00:00", time(0)), ("07:05", time(7, 5)), ("23:59", time(23, 59))]
)
def test_wall_time_parses_hh_mm(text: str, expected: time) -> None:
    assert parse_wall_time(text, "start_time") == expected


@pytest.mark.parametrize(
    "text", ["24:00", "7:00", "07:60", "07:00:00", "", " 07:00", "07h00", "0\u0667:00"]
)
def test_wall_time_refuses_anything_but_hh_mm(text: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_wall_time(text, "end_time")
    assert caught.value.field == "end_time"


def test_valid_entry_passes() -> None:
    validate_schedule(VALID)
    validate_schedule(ScheduleEntry(UUID(int=1), UUID(int=2), TenantTarget(), 0, VALID.created_at))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"priority": PRIORITY_MAX + 1}, "priority"),
        ({"target": GroupTarget(frozenset())}, "target"),
        ({"target": GroupTarget(frozenset({" "}))}, "target"),
        ({"target": DeviceTarget(frozenset())}, "target"),
        ({"starts_at": datetime(2024, 5, 1)}, "starts_at"),  # naive
        ({"ends_at": datetime(2024, 5, 1, tzinfo=UTC)}, "ends_at"),  # equal to starts_at
        ({"days_of_week": frozenset()}, "days_of_week"),
        ({"days_of_week": frozenset({0, 1})}, "days_of_week"),
        ({"days_of_week": frozenset({8})}, "days_of_week"),
        ({"start_time": time(8, 0, 30)}, "start_time"),
        ({"end_time": time(18, tzinfo=UTC)}, "end_time"),
        ({"timezone": "Europe/Atlantis"}, "timezone"),
    ],
)
def test_invalid_entry_names_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as caught:
        validate_schedule(msgspec.structs.replace(VALID, **change))
    assert caught.value.field == field


def test_entry_round_trips_through_json_with_a_tagged_target() -> None:
    encoded = msgspec.json.encode(VALID)
    assert b'"target":{"scope":"groups","groups":["lobby"]}' in encoded
    assert msgspec.json.decode(encoded, type=ScheduleEntry) == VALID


def test_decoding_refuses_unknown_fields_and_naive_instants() -> None:
    document = msgspec.to_builtins(VALID)
    with pytest.raises(msgspec.ValidationError, match="surprise"):
        msgspec.convert({**document, "surprise": 1}, ScheduleEntry)
    with pytest.raises(msgspec.ValidationError, match="timezone"):
        msgspec.convert({**document, "created_at": "2024-01-01T00:00:00"}, ScheduleEntry)
