"""Proof of play: what a screen's report of a play must satisfy to be counted, how plays
roll up per hour, and the shapes of the reports — pure (docs/devices.md, "Proof of play").

A screen is untrusted (SPEC principle 1): a play it reports is counted only if it starts
within :data:`MAX_AGE` before now and no later than :data:`MAX_AHEAD` after it, names
content of the screen's own tenant, and starts after the newest play already counted for
that screen (screens report in the order they played; anything else is a repeat).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

import msgspec

#: Plays older than this when reported are not counted (a screen offline for longer
#: than a week reports what it can; the rest is lost rather than distorting old reports).
MAX_AGE = timedelta(days=7)
#: Clock skew tolerated on the screen's side.
MAX_AHEAD = timedelta(minutes=5)

PlayBy = Literal["content", "device", "group", "day"]
#: The longest period one report covers.
MAX_REPORT_DAYS = 400


class PlayRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One play as a node hands it to the writer."""

    tenant_id: UUID
    device_id: UUID
    content_id: UUID
    started_at: datetime
    duration_ms: int


def acceptable(started_at: datetime, now: datetime) -> bool:
    return now - MAX_AGE <= started_at <= now + MAX_AHEAD


def hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


class HourKey(msgspec.Struct, frozen=True, array_like=True):
    tenant_id: UUID
    hour: datetime
    device_id: UUID
    content_id: UUID


def roll_up(plays: Iterable[PlayRecord]) -> dict[HourKey, tuple[int, int]]:
    """Plays summed per (tenant, UTC hour, screen, content): ``(plays, duration_ms)``."""
    hours: dict[HourKey, tuple[int, int]] = {}
    for play in plays:
        key = HourKey(play.tenant_id, hour_of(play.started_at), play.device_id, play.content_id)
        count, total = hours.get(key, (0, 0))
        hours[key] = (count + 1, total + play.duration_ms)
    return hours


class PlayRow(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a report: ``key`` is a content id, a device id, a group name or a UTC
    day (``YYYY-MM-DD``), per ``by``; ``name`` the content's or device's name."""

    key: str
    name: str | None = None
    plays: int
    duration_ms: int


ReportDay = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")]
