"""Manifests for many devices of one tenant at once — pure, and cheap when screens share.

:func:`plan_batch` asks the :class:`~actors.domain.schedule_resolution.ScheduleBook` for
every device's timeline in one call (devices that see the same entries in the same zone
share one timeline object), plans and hashes each distinct timeline once, and reports
only the devices whose document differs from the one they have. A tenant of 5,000
screens in a few dozen configurations costs a few dozen plans, not 5,000
(``bench/manifest_recompute.py`` measures it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from uuid import UUID

import msgspec

from actors.domain.manifest_plan import (
    ContentSnapshot,
    Playlist,
    canonical_json,
    horizon_start,
    plan_manifest,
)
from actors.domain.schedule_resolution import ScheduleBook
from actors.domain.schedule_types import DeviceProfile, ScheduleEntry, Slice
from actors.domain.targets import DeviceTarget, GroupTarget, Target, TenantTarget
from actors.domain.wall_clock import zone_named
from actors.errors import Invalid

FALLBACK_ZONE = "UTC"


class DeviceScope(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Which devices of a tenant a change may affect: every one, or those in ``groups``
    or named in ``device_ids`` (a device matching either is in scope)."""

    everyone: bool = False
    groups: frozenset[str] = frozenset()
    device_ids: frozenset[UUID] = frozenset()

    @classmethod
    def all(cls) -> DeviceScope:
        return _EVERYONE

    @classmethod
    def devices(cls, *device_ids: UUID) -> DeviceScope:
        return cls(device_ids=frozenset(device_ids))

    @classmethod
    def of_target(cls, target: Target) -> DeviceScope:
        """The devices a schedule entry's target reaches."""
        if isinstance(target, TenantTarget):
            return _EVERYONE
        if isinstance(target, GroupTarget):
            return cls(groups=target.groups)
        assert isinstance(target, DeviceTarget)
        return cls(device_ids=target.device_ids)

    @classmethod
    def reached_by(cls, targets: Iterable[Target], *, max_named: int) -> DeviceScope:
        """The devices any of ``targets`` reaches (empty for no target)."""
        scope = cls()
        for target in targets:
            scope = scope.merge(cls.of_target(target), max_named=max_named)
        return scope

    @property
    def empty(self) -> bool:
        return not (self.everyone or self.groups or self.device_ids)

    def merge(self, other: DeviceScope, *, max_named: int) -> DeviceScope:
        """Both scopes in one; past ``max_named`` groups and devices, simply everyone
        (keeps a pending request's size bounded)."""
        if self.everyone or other.everyone:
            return _EVERYONE
        groups = self.groups | other.groups
        device_ids = self.device_ids | other.device_ids
        if len(groups) + len(device_ids) > max_named:
            return _EVERYONE
        return DeviceScope(groups=groups, device_ids=device_ids)


_EVERYONE = DeviceScope(everyone=True)


class Horizon(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How far ahead manifests reach: planned from ``horizon_start(now, step)`` over
    ``ahead + step``, so a screen always holds at least ``ahead`` of its future and the
    passage of time alone changes its document once per ``step``."""

    ahead: timedelta
    step: timedelta

    def start(self, now: datetime) -> datetime:
        return horizon_start(now, self.step)

    @property
    def span(self) -> timedelta:
        return self.ahead + self.step


class PlannedDocument(msgspec.Struct, frozen=True):
    """One distinct manifest: its canonical JSON (text), hash and time span."""

    hash: str
    document: str
    starts_at: datetime
    ends_at: datetime


class BatchPlan(msgspec.Struct, frozen=True):
    """What changed: ``changed`` maps each device whose document differs from its stored
    one to the new document's hash; ``documents`` holds those documents by hash."""

    changed: dict[UUID, str]
    documents: dict[str, PlannedDocument]
    devices: int
    distinct_timelines: int
    #: Timelines that resolved differently, each planned once.
    plans: int = 0
    substituted_zones: tuple[str, ...] = ()


def plan_batch(
    devices: Sequence[DeviceProfile],
    entries: Sequence[ScheduleEntry],
    playlists: Mapping[UUID, Playlist],
    contents: Mapping[UUID, ContentSnapshot],
    stored: Mapping[UUID, str],
    *,
    now: datetime,
    horizon: Horizon,
    tenant_id: UUID,
    media_base_url: str,
) -> BatchPlan:
    """Plan every device's manifest from ``horizon.start(now)`` and compare its hash with
    ``stored`` (device id → hash of the document it has; absent: none yet).

    A device whose time zone is not a usable IANA name is planned in UTC (its zone was
    accepted before the current rules, or the host lost it) rather than failing the whole
    tenant; such zones are listed in ``substituted_zones`` for the caller to log.

    :raises Invalid: if a schedule entry names an unknown time zone.
    """
    devices, substituted = usable_zones(devices)
    book = ScheduleBook(entries)
    timelines = book.timelines(devices, horizon.start(now), horizon.span)
    # Devices of one configuration share the very same tuple of slices (keyed by identity
    # first: ``timelines`` keeps every tuple alive until the loop ends); configurations
    # that resolve alike (same winners at the same times) share it by value.
    by_identity: dict[int, PlannedDocument] = {}
    by_value: dict[tuple[Slice, ...], PlannedDocument] = {}
    changed: dict[UUID, str] = {}
    documents: dict[str, PlannedDocument] = {}
    for device in devices:
        slices = timelines[device.id]
        document = by_identity.get(id(slices))
        if document is None:
            document = by_value.get(slices)
            if document is None:
                document = _plan(slices, playlists, contents, tenant_id, media_base_url)
                by_value[slices] = document
            by_identity[id(slices)] = document
        if stored.get(device.id) != document.hash:
            changed[device.id] = document.hash
            documents[document.hash] = document
    return BatchPlan(
        changed=changed,
        documents=documents,
        devices=len(devices),
        distinct_timelines=len(by_identity),
        plans=len(by_value),
        substituted_zones=substituted,
    )


def _plan(
    slices: Sequence[Slice],
    playlists: Mapping[UUID, Playlist],
    contents: Mapping[UUID, ContentSnapshot],
    tenant_id: UUID,
    media_base_url: str,
) -> PlannedDocument:
    manifest = plan_manifest(
        slices, playlists, contents, tenant_id=tenant_id, media_base_url=media_base_url
    )
    raw = canonical_json(manifest)
    return PlannedDocument(
        hash=hashlib.sha256(raw).hexdigest(),
        document=raw.decode(),
        starts_at=manifest.starts_at,
        ends_at=manifest.ends_at,
    )


def usable_zones(
    devices: Sequence[DeviceProfile],
) -> tuple[list[DeviceProfile], tuple[str, ...]]:
    """``devices`` with each unusable time zone replaced by :data:`FALLBACK_ZONE`, and the
    sorted names replaced (how :func:`plan_batch` and the explanation see devices)."""
    bad: set[str] = set()
    for zone in {device.timezone for device in devices}:
        try:
            zone_named(zone)
        except Invalid:
            bad.add(zone)
    if not bad:
        return list(devices), ()
    fixed = [
        msgspec.structs.replace(d, timezone=FALLBACK_ZONE) if d.timezone in bad else d
        for d in devices
    ]
    return fixed, tuple(sorted(bad))
