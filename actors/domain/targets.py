"""Whom something is for — every screen of the tenant, the screens in some groups, or a
list of screens — in one model used by emergencies, schedules and manifest scopes.

:class:`TargetSpec` is the API's form (``{"all": true}`` | ``{"groups": [...]}`` |
``{"device_ids": [...]}``, one set of limits for every endpoint that takes a target);
:meth:`TargetSpec.resolve` turns it into a :data:`Target`, the internal union, and
:meth:`TargetSpec.of` turns a stored target back into what the admin wrote. Whether a
screen is targeted is one function, :func:`Target.includes`, wherever it is asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from typing import Annotated
from uuid import UUID

import msgspec

from actors.domain.devices import GroupName
from actors.errors import Invalid

#: Most groups one target may name.
MAX_TARGET_GROUPS = 64
#: Most device ids one target may list (beyond that, target a group).
MAX_TARGET_DEVICES = 10_000


class Specificity(IntEnum):
    """How narrowly a target names its screens; the narrower wins a schedule's priority tie."""

    TENANT = 0
    GROUP = 1
    DEVICE = 2


class TenantTarget(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="tenant", tag_field="scope"
):
    """Every screen of the tenant (the API's ``{"all": true}``)."""

    @property
    def specificity(self) -> Specificity:
        return Specificity.TENANT

    def includes(self, device_id: UUID, groups: Iterable[str]) -> bool:
        return True


class GroupTarget(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="groups", tag_field="scope"
):
    """Screens that belong to at least one of ``groups``."""

    groups: frozenset[str]

    @property
    def specificity(self) -> Specificity:
        return Specificity.GROUP

    def includes(self, device_id: UUID, groups: Iterable[str]) -> bool:
        return not self.groups.isdisjoint(groups)


class DeviceTarget(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="devices", tag_field="scope"
):
    """Exactly the screens listed in ``device_ids``."""

    device_ids: frozenset[UUID]

    @property
    def specificity(self) -> Specificity:
        return Specificity.DEVICE

    def includes(self, device_id: UUID, groups: Iterable[str]) -> bool:
        return device_id in self.device_ids


Target = TenantTarget | GroupTarget | DeviceTarget
"""Encodes as ``{"scope": "tenant" | "groups" | "devices", ...}`` (a tagged union)."""

EVERYONE = TenantTarget()


class TargetSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """The API's target: exactly one of ``all`` (true), ``groups``, ``device_ids``."""

    all: bool | None = None
    groups: Annotated[list[GroupName], msgspec.Meta(max_length=MAX_TARGET_GROUPS)] | None = None
    device_ids: Annotated[list[UUID], msgspec.Meta(max_length=MAX_TARGET_DEVICES)] | None = None

    def resolve(self) -> Target:
        """The target this names.

        :raises Invalid: (field ``target``...) unless exactly one form is given, non-empty.
        """
        given = [self.all is not None, self.groups is not None, self.device_ids is not None]
        if sum(given) != 1:
            raise Invalid(
                'target is one of {"all": true}, {"groups": [...]}, {"device_ids": [...]}',
                field="target",
            )
        if self.all is not None:
            if not self.all:
                raise Invalid('a whole-tenant target is {"all": true}', field="target.all")
            return EVERYONE
        if self.groups is not None:
            if not self.groups:
                raise Invalid("name at least one group", field="target.groups")
            return GroupTarget(frozenset(self.groups))
        assert self.device_ids is not None
        if not self.device_ids:
            raise Invalid("name at least one device", field="target.device_ids")
        return DeviceTarget(frozenset(self.device_ids))

    @classmethod
    def of(cls, target: Target) -> TargetSpec:
        """What an admin writes for ``target`` (sorted, so reads are stable)."""
        match target:
            case TenantTarget():
                return cls(all=True)
            case GroupTarget(groups=groups):
                return cls(groups=sorted(groups))
            case DeviceTarget(device_ids=device_ids):
                return cls(device_ids=sorted(device_ids))
