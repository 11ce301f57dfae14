"""Devices (screens): their record, the admin's view of them, and the rules for names,
groups and time zones.

A device registers itself (``pending``, no tenant), is claimed into a tenant by a device
manager (``approved``), and may be ``revoked`` for good. Only its own presence and
acknowledgements can ever be changed by what a device sends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from actors.domain.fleet import DeviceHealth
from actors.errors import Invalid

DeviceStatus = Literal["pending", "approved", "revoked"]

MAX_GROUPS = 32
DeviceName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^(?=.*\S)[^\x00-\x1f\x7f]+$")
]
#: Group names are identifiers admins target schedules and emergencies at.
GroupName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]
GroupList = Annotated[list[GroupName], msgspec.Meta(max_length=MAX_GROUPS)]
TimezoneName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
HardwareId = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
#: Printable ASCII; "(?!\n)": Python's "$" would also match before a trailing newline.
ShortLabel = Annotated[str, msgspec.Meta(max_length=64, pattern=r"^[\x20-\x7e]*(?!\n)$")]


def check_timezone(name: str) -> str:
    """``name`` if it is an IANA zone this system knows.

    :raises Invalid: (field ``timezone``) otherwise.
    """
    if name.startswith(("/", ".")) or ".." in name:
        raise Invalid(f"unknown time zone {name!r}", field="timezone")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"unknown time zone {name!r}", field="timezone") from None
    return name


def normalize_groups(groups: list[str]) -> tuple[str, ...]:
    """Groups as stored: de-duplicated, sorted (order carries no meaning)."""
    return tuple(sorted(set(groups)))


class Device(msgspec.Struct, frozen=True, kw_only=True):
    """A claimed device as stored (pending registrations are :class:`Registration`)."""

    id: UUID
    tenant_id: UUID
    name: str
    status: DeviceStatus
    groups: tuple[str, ...]
    timezone: str
    hardware_id: str
    model: str | None
    app_version: str | None
    created_at: datetime
    claimed_at: datetime | None
    revoked_at: datetime | None
    last_seen_at: datetime | None

    @property
    def ref(self) -> str:
        """How audit entries name it."""
        return f"device:{self.id}"


class DeviceView(msgspec.Struct, frozen=True, kw_only=True):
    """What admins see (API.md): the record plus live presence."""

    id: UUID
    name: str
    status: DeviceStatus
    groups: tuple[str, ...]
    timezone: str
    online: bool
    last_seen_at: datetime | None
    node_id: str | None = None
    hardware_id: str | None = None
    model: str | None = None
    #: The version the screen last reported in a heartbeat, else the one it registered with.
    app_version: str | None = None
    #: The latest status the screen reported (docs/devices.md, "Status"); ``null`` if none.
    health: DeviceHealth | None = None

    @classmethod
    def of(
        cls, device: Device, presence: Presence | None, health: DeviceHealth | None = None
    ) -> DeviceView:
        online = presence is not None and device.status == "approved"
        last_seen = device.last_seen_at
        if presence is not None and (last_seen is None or presence.last_seen_at > last_seen):
            last_seen = presence.last_seen_at
        return cls(
            id=device.id,
            name=device.name,
            status=device.status,
            groups=device.groups,
            timezone=device.timezone,
            online=online,
            last_seen_at=last_seen,
            node_id=presence.node_id if online and presence is not None else None,
            hardware_id=device.hardware_id,
            model=device.model,
            app_version=(health.app_version if health is not None else None) or device.app_version,
            health=health,
        )


class DeviceFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which devices a list shows (every field optional; together they all apply)."""

    #: Approved devices not seen for longer than this many minutes (and not online now).
    offline_for_min: int | None = None
    #: Devices whose app version is below this one (numeric parts compared; a device that
    #: reported no comparable version counts as below).
    app_version_below: str | None = None
    #: Devices in this group.
    group: str | None = None


class Presence(msgspec.Struct, frozen=True):
    """A live session: where the device is connected and when it last spoke."""

    node_id: str
    last_seen_at: datetime


class Credential(msgspec.Struct, frozen=True, kw_only=True):
    """What a presented device secret resolves to (any status, for a precise answer)."""

    device_id: UUID
    status: DeviceStatus
    tenant_id: UUID | None
    tenant_active: bool
    groups: tuple[str, ...] = ()
    timezone: str = "UTC"
    name: str | None = None

    @property
    def may_connect(self) -> bool:
        return self.status == "approved" and self.tenant_id is not None and self.tenant_active


class SessionGrant(msgspec.Struct, frozen=True, kw_only=True):
    """A device allowed to hold a session now (approved, tenant active), as stored."""

    device_id: UUID
    groups: tuple[str, ...]
    timezone: str
    name: str | None
    secret_hash: bytes
