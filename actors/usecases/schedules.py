"""Schedules: which playlist plays where and when (docs/scheduling.md).

An entry is checked by the domain's rules (:func:`~actors.domain.schedule_types.
validate_schedule`) and against the store (its playlist and its devices exist in the
tenant), stored and audited; after commit the manifests of the devices its target
reaches are refreshed. Deleting refreshes the same devices.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID, uuid4

import msgspec

from actors.domain.manifest_batch import DeviceScope
from actors.domain.principal import Principal
from actors.domain.rbac import Permission, authorize
from actors.domain.schedule_types import Instant, ScheduleEntry, parse_wall_time, validate_schedule
from actors.domain.schedules import ScheduleView
from actors.domain.targets import DeviceTarget, TargetSpec
from actors.domain.wall_clock import to_utc
from actors.errors import Invalid, NotFound
from actors.pagination import ByCreation, Page, PageRequest, Paging
from actors.ports.manifests import ManifestRefresh
from actors.ports.uow import UnitOfWork
from actors.settings import Settings
from actors.usecases.manifests import ManifestSizeGuard

Weekday = Annotated[int, msgspec.Meta(ge=1, le=7)]


class CreateSchedule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    playlist_id: UUID
    target: TargetSpec
    priority: int
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    days_of_week: Annotated[list[Weekday], msgspec.Meta(min_length=1, max_length=7)] | None = None
    start_time: Annotated[str, msgspec.Meta(max_length=5)] | None = None
    end_time: Annotated[str, msgspec.Meta(max_length=5)] | None = None
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None


class ScheduleQuery(Paging, frozen=True, forbid_unknown_fields=True):
    """``GET .../schedules?limit=&cursor=``: oldest first."""


class ScheduleList(msgspec.Struct, frozen=True):
    items: list[ScheduleView]
    #: The cursor of the next page; ``null`` on the last one.
    next_cursor: str | None = None


class Schedules:
    def __init__(self, uow: UnitOfWork, refresh: ManifestRefresh, settings: Settings) -> None:
        self._uow = uow
        self._refresh = refresh
        self._manifest_sizes = ManifestSizeGuard.from_settings(settings)

    async def create(self, who: Principal, tenant_id: UUID, cmd: CreateSchedule) -> ScheduleView:
        """:raises Invalid: (422) naming the field: a rule broken, an unknown playlist or
        device.
        :raises Conflict: (409) if a manifest of a device it reaches would pass
            ``MANIFEST_MAX_BYTES``."""
        authorize(who, Permission.SCHEDULE_EDIT, tenant_id)
        entry = ScheduleEntry(
            id=uuid4(),
            playlist_id=cmd.playlist_id,
            target=cmd.target.resolve(),
            priority=cmd.priority,
            created_at=datetime.now(UTC),  # provisional: the stored entry has the database's
            starts_at=None if cmd.starts_at is None else to_utc(cmd.starts_at, "starts_at"),
            ends_at=None if cmd.ends_at is None else to_utc(cmd.ends_at, "ends_at"),
            days_of_week=None if cmd.days_of_week is None else frozenset(cmd.days_of_week),
            start_time=None
            if cmd.start_time is None
            else parse_wall_time(cmd.start_time, "start_time"),
            end_time=None if cmd.end_time is None else parse_wall_time(cmd.end_time, "end_time"),
            timezone=cmd.timezone,
        )
        validate_schedule(entry)
        async with self._uow.tenant(tenant_id) as tx:
            if await tx.playlists.get(tenant_id, entry.playlist_id) is None:
                raise Invalid("no such playlist", field="playlist_id")
            target = entry.target
            if isinstance(target, DeviceTarget):
                found = await tx.manifests.planning_devices(
                    tenant_id, DeviceScope(device_ids=target.device_ids)
                )
                unknown = target.device_ids - {device.id for device in found}
                if unknown:
                    named = ", ".join(sorted(map(str, unknown)))
                    raise Invalid(
                        f"not approved devices of this tenant: {named}", field="target.device_ids"
                    )
            record = await tx.schedules.create(tenant_id, entry, created_by=who.user_id)
            await self._manifest_sizes.check(
                tx, tenant_id, DeviceScope.of_target(record.entry.target)
            )
            view = ScheduleView.of(record)
            await tx.audit.append(tenant_id, who, "schedule.create", target=record.ref, after=view)
        self._refresh.refresh(tenant_id, DeviceScope.of_target(record.entry.target))
        return view

    async def delete(self, who: Principal, tenant_id: UUID, schedule_id: UUID) -> None:
        authorize(who, Permission.SCHEDULE_EDIT, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            record = await tx.schedules.delete(tenant_id, schedule_id)
            if record is None:
                raise NotFound("no such schedule")
            await tx.audit.append(
                tenant_id, who, "schedule.delete", target=record.ref, before=ScheduleView.of(record)
            )
        self._refresh.refresh(tenant_id, DeviceScope.of_target(record.entry.target))

    async def get(self, who: Principal, tenant_id: UUID, schedule_id: UUID) -> ScheduleView:
        authorize(who, Permission.SCHEDULE_READ, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            record = await tx.schedules.get(tenant_id, schedule_id)
        if record is None:
            raise NotFound("no such schedule")
        return ScheduleView.of(record)

    async def list(
        self, who: Principal, tenant_id: UUID, page: PageRequest[ByCreation]
    ) -> Page[ScheduleView, ByCreation]:
        """One page of the tenant's schedule entries, oldest first."""
        authorize(who, Permission.SCHEDULE_READ, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            rows = await tx.schedules.page(tenant_id, page)
        found = page.page(rows, lambda r: ByCreation(r.entry.created_at, r.entry.id))
        return found.map(ScheduleView.of)
