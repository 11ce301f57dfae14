""" "Why is this playing": what a screen plays at an instant, and why — pure.

:func:`explain_device` is the manifest pipeline run for one device and one instant, not a
second implementation of it: the device's zone is made usable as :func:`~actors.domain.
manifest_batch.plan_batch` does, :meth:`~actors.domain.schedule_resolution.ScheduleBook.
explain` paints the one-microsecond timeline ``[at, at + 1 µs)`` with the manifest's
painter and gives each other entry its verdict, and :func:`~actors.domain.manifest_plan.
plan_manifest` plans that timeline, so the items listed as playing are the ones the
manifest lists at ``at``. What this module adds is words: a reason code and a sentence
for every candidate, and why each item of the winning playlist that does not play is
held back. The codes are documented for operators in ``docs/scheduling.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, time
from enum import StrEnum
from typing import Literal
from uuid import UUID

import msgspec

from actors.domain.content_lifecycle import ContentState, may_reach_devices
from actors.domain.manifest_batch import usable_zones
from actors.domain.manifest_plan import ContentSnapshot, ManifestItem, Playlist, plan_manifest
from actors.domain.schedule_resolution import ScheduleBook
from actors.domain.schedule_types import (
    Candidate,
    DeviceProfile,
    Instant,
    Resolution,
    ScheduleEntry,
    Verdict,
)
from actors.domain.targets import Specificity
from actors.domain.wall_clock import to_utc, zone_named
from actors.errors import Invalid

#: Instants that can be explained: ``[EARLIEST, LATEST)``.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)

TargetScope = Literal["device", "group", "tenant"]
_SCOPES: dict[Specificity, TargetScope] = {
    Specificity.DEVICE: "device",
    Specificity.GROUP: "group",
    Specificity.TENANT: "tenant",
}
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class Reason(StrEnum):
    """Why a candidate plays or does not (``docs/scheduling.md``, "Why is this playing").

    The winner's is ``playing``, or ``playlist_empty`` / ``no_playable_content`` when it
    wins with nothing to show (the screen idles: it never falls back to a lower entry).
    The others' are the :class:`~actors.domain.schedule_types.Verdict` values.
    """

    PLAYING = "playing"
    PLAYLIST_EMPTY = "playlist_empty"
    NO_PLAYABLE_CONTENT = "no_playable_content"
    LOWER_PRIORITY = Verdict.LOWER_PRIORITY.value
    LESS_SPECIFIC_TARGET = Verdict.LESS_SPECIFIC_TARGET.value
    OLDER = Verdict.OLDER.value
    LOWER_ID = Verdict.LOWER_ID.value
    NOT_STARTED = Verdict.NOT_STARTED.value
    ENDED = Verdict.ENDED.value
    OUTSIDE_DAYS = Verdict.OUTSIDE_DAYS.value
    OUTSIDE_HOURS = Verdict.OUTSIDE_HOURS.value


class HeldBack(StrEnum):
    """Why an item of the winning playlist is not in the manifest at that instant."""

    CONTENT_MISSING = "content_missing"
    NOT_APPROVED = "not_approved"
    ARCHIVED = "archived"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"


class HeldBackItem(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    content_id: UUID
    reason: HeldBack
    detail: str


class Playing(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The winning entry, the items the manifest loops through at that instant (empty:
    the screen idles) and the playlist's items held back, each once, in playlist order."""

    schedule_id: UUID
    playlist_id: UUID
    items: tuple[ManifestItem, ...]
    held_back: tuple[HeldBackItem, ...]


class ExplainedCandidate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An entry that targets the screen; ``timezone`` is where its weekdays and daily
    window were read, ``target_scope`` how narrowly its target names the screen."""

    schedule_id: UUID
    playlist_id: UUID
    won: bool
    reason: Reason
    detail: str
    priority: int
    target_scope: TargetScope
    timezone: str
    created_at: Instant


class Explanation(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``GET .../devices/{did}/explain``: ``candidates`` best-ranked first."""

    at: Instant
    device_id: UUID
    timezone: str
    playing: Playing | None
    candidates: tuple[ExplainedCandidate, ...]


def explain_device(
    device: DeviceProfile,
    entries: Iterable[ScheduleEntry],
    playlists: Mapping[UUID, Playlist],
    contents: Mapping[UUID, ContentSnapshot],
    at: datetime,
    *,
    tenant_id: UUID,
    media_base_url: str,
) -> Explanation:
    """What ``device`` plays at ``at`` given the tenant's schedule ``entries``, playlists
    and content (as :func:`~actors.domain.manifest_batch.plan_batch` is given them), and
    why every entry that targets it plays or not.

    :raises Invalid: (``at``) if ``at`` lies outside ``[EARLIEST, LATEST)``; (``timezone``)
        if an applicable entry's zone is unknown on this host.
    :raises ValueError: if ``at`` is naive.
    """
    at = to_utc(at, field="at")
    if not EARLIEST <= at < LATEST:
        raise Invalid(f"at must lie from {_iso(EARLIEST)} to before {_iso(LATEST)}", field="at")
    (device,), _ = usable_zones([device])
    resolution = ScheduleBook(entries).explain(device, at)
    playing = _playing(resolution, playlists, contents, tenant_id, media_base_url)
    return Explanation(
        at=at,
        device_id=device.id,
        timezone=device.timezone,
        playing=playing,
        candidates=tuple(_candidate(c, resolution, playing, at) for c in resolution.candidates),
    )


def held_back(snapshot: ContentSnapshot | None, at: datetime) -> HeldBack | None:
    """Why the manifest leaves out the content ``snapshot`` at ``at`` (``None``: it may
    play), checked in the order of :func:`~actors.domain.content_lifecycle.
    may_reach_devices`, which alone decides."""
    if snapshot is None:
        return HeldBack.CONTENT_MISSING
    live = snapshot.live
    if live is not None and may_reach_devices(snapshot.lifecycle, live, at):
        return None
    if snapshot.lifecycle.state is ContentState.ARCHIVED:
        return HeldBack.ARCHIVED
    if live is None or live.number != snapshot.lifecycle.live_revision:
        return HeldBack.NOT_APPROVED
    if live.valid_from is not None and at < live.valid_from:
        return HeldBack.NOT_YET_VALID
    return HeldBack.EXPIRED


def _playing(
    resolution: Resolution,
    playlists: Mapping[UUID, Playlist],
    contents: Mapping[UUID, ContentSnapshot],
    tenant_id: UUID,
    media_base_url: str,
) -> Playing | None:
    piece = resolution.slice
    if piece.schedule_id is None or piece.playlist_id is None:
        return None
    manifest = plan_manifest(
        (piece,), playlists, contents, tenant_id=tenant_id, media_base_url=media_base_url
    )
    (planned,) = manifest.slices  # no validity bound lies strictly inside one microsecond
    playlist = playlists.get(piece.playlist_id)
    seen: set[UUID] = set()
    kept: list[HeldBackItem] = []
    for item in () if playlist is None else playlist.items:
        if item.content_id in seen:
            continue
        seen.add(item.content_id)
        snapshot = contents.get(item.content_id)
        reason = held_back(snapshot, resolution.at)
        if reason is not None:
            kept.append(HeldBackItem(item.content_id, reason, _held_back_detail(reason, snapshot)))
    return Playing(piece.schedule_id, piece.playlist_id, planned.items, tuple(kept))


def _candidate(
    candidate: Candidate, resolution: Resolution, playing: Playing | None, at: datetime
) -> ExplainedCandidate:
    entry = candidate.entry
    winner = resolution.winner
    reason, detail = _reason(candidate, winner, playing, at)
    return ExplainedCandidate(
        schedule_id=entry.id,
        playlist_id=entry.playlist_id,
        won=candidate.verdict is Verdict.WINS,
        reason=reason,
        detail=detail,
        priority=entry.priority,
        target_scope=_SCOPES[entry.target.specificity],
        timezone=candidate.zone,
        created_at=entry.created_at,
    )


def _reason(
    candidate: Candidate, winner: ScheduleEntry | None, playing: Playing | None, at: datetime
) -> tuple[Reason, str]:
    entry, verdict = candidate.entry, candidate.verdict
    if verdict is Verdict.WINS:
        assert playing is not None
        if playing.items:
            return Reason.PLAYING, "the best-ranked entry active at this instant"
        if not playing.held_back:
            return Reason.PLAYLIST_EMPTY, (
                "wins, but its playlist has no items: the screen idles (it never falls "
                "back to a lower-ranked entry)"
            )
        return Reason.NO_PLAYABLE_CONTENT, (
            "wins, but no item of its playlist may play at this instant (see "
            "playing.held_back): the screen idles"
        )
    if verdict is Verdict.NOT_STARTED:
        assert entry.starts_at is not None
        return Reason.NOT_STARTED, f"starts at {_iso(entry.starts_at)}"
    if verdict is Verdict.ENDED:
        assert entry.ends_at is not None
        return Reason.ENDED, f"ended at {_iso(entry.ends_at)}"
    local = at.astimezone(zone_named(candidate.zone))
    now = f"{_DAY_NAMES[local.isoweekday() - 1]} {local:%H:%M} in {candidate.zone}"
    if verdict is Verdict.OUTSIDE_DAYS:
        assert entry.days_of_week is not None
        days = ", ".join(_WEEKDAYS[day - 1] for day in sorted(entry.days_of_week))
        return Reason.OUTSIDE_DAYS, (
            f"its windows open only on {days}; no window of those days is open at {now}"
        )
    if verdict is Verdict.OUTSIDE_HOURS:
        return Reason.OUTSIDE_HOURS, f"its daily window {_window(entry)} is not open at {now}"
    assert winner is not None
    return Reason(verdict.value), _outranked_detail(verdict, entry, winner)


def _outranked_detail(verdict: Verdict, entry: ScheduleEntry, winner: ScheduleEntry) -> str:
    if verdict is Verdict.LOWER_PRIORITY:
        return f"priority {entry.priority} is below the winner's {winner.priority}"
    mine, theirs = _SCOPES[entry.target.specificity], _SCOPES[winner.target.specificity]
    if verdict is Verdict.LESS_SPECIFIC_TARGET:
        return (
            f"same priority as the winner, whose {theirs} target is more specific than "
            f"this {mine} target"
        )
    if verdict is Verdict.OLDER:
        return (
            f"same priority and a {mine} target like the winner, but created earlier "
            f"({_iso(entry.created_at)}, the winner {_iso(winner.created_at)}): the newest wins"
        )
    return (
        "ties with the winner on priority, target and creation time: the greater id wins "
        "(an arbitrary but fixed choice)"
    )


def _held_back_detail(reason: HeldBack, snapshot: ContentSnapshot | None) -> str:
    live = None if snapshot is None else snapshot.live
    if reason is HeldBack.CONTENT_MISSING:
        return "the playlist names content that no longer exists"
    if reason is HeldBack.ARCHIVED:
        return "archived: taken off every screen"
    if reason is HeldBack.NOT_APPROVED:
        return "no approved revision yet"
    assert live is not None
    if reason is HeldBack.NOT_YET_VALID:
        assert live.valid_from is not None
        return f"valid from {_iso(live.valid_from)}"
    assert live.valid_until is not None
    return f"valid until {_iso(live.valid_until)}"


def _window(entry: ScheduleEntry) -> str:
    opens = entry.start_time or time(0)
    closes = "24:00" if entry.end_time is None else f"{entry.end_time:%H:%M}"
    return f"{opens:%H:%M}-{closes}"


def _iso(instant: datetime) -> str:
    return to_utc(instant).isoformat().replace("+00:00", "Z")
