"""Fleet health and remote commands: what screens report about themselves, and the few
commands a device manager may send them (docs/devices.md, "Status" and "Commands").

A screen's status is what it *says* (screens are untrusted, SPEC principle 1): it is shown,
filtered on and never acted upon; nothing in it changes the device's record. A command is
an operator's request the screen answers; the answer, too, is only recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

CommandName = Literal["reload", "reboot", "clear_cache", "identify"]
#: ``sent``: handed to the nodes, not answered yet; ``expired``: sent and not answered
#: before its expiry (computed when read, never stored); the others are the screen's answer.
CommandState = Literal["sent", "ok", "failed", "unsupported", "expired"]
#: What a screen may answer (the ``command_result`` frame).
CommandResult = Literal["ok", "failed", "unsupported"]

#: How long a command waits for the screen's answer, unless the request says otherwise.
COMMAND_TTL_S = 60
COMMAND_MAX_TTL_S = 3_600
#: Commands of one device still waiting for an answer, at most: past it, 429.
MAX_OPEN_COMMANDS = 10
#: Commands kept per device (older ones are deleted when a new one is sent).
COMMANDS_KEPT = 50
#: Devices one bulk revocation may name.
MAX_BULK_REVOKE = 500

#: ``app_version_below`` as a query parameter: a numeric version, at most 8 parts.
VersionBound = Annotated[
    str, msgspec.Meta(min_length=1, max_length=80, pattern=r"^[vV]?[0-9]{1,9}(\.[0-9]{1,9}){0,7}$")
]


class DeviceHealth(msgspec.Struct, frozen=True, kw_only=True):
    """The latest status a screen reported (its heartbeats' status fields), as stored.

    Each heartbeat that carries any status field replaces the whole status (a field it
    leaves out is unknown, ``null``); a heartbeat without any is liveness only."""

    reported_at: datetime
    #: The node that received it.
    node_id: str
    app_version: str | None = None
    uptime_s: float | None = None
    display_on: bool | None = None
    free_storage_bytes: int | None = None
    last_error: str | None = None
    playing: str | None = None
    manifest_version: int | None = None


class StatusReport(msgspec.Struct, frozen=True, kw_only=True):
    """One screen's latest status as a node hands it to the batched writer."""

    tenant_id: UUID
    device_id: UUID
    health: DeviceHealth


class CommandAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """A screen's ``command_result``, as a node hands it to the batched writer. Stored only
    for a command of that same device, still ``sent`` and not expired."""

    tenant_id: UUID
    device_id: UUID
    command_id: UUID
    result: CommandResult
    detail: str | None
    at: datetime
    node_id: str


class DeviceCommand(msgspec.Struct, frozen=True, kw_only=True):
    """A command as admins see it (``GET .../devices/{did}/commands``)."""

    id: UUID
    device_id: UUID
    name: CommandName
    state: CommandState
    issued_by: str
    issued_at: datetime
    expires_at: datetime
    answered_at: datetime | None = None
    #: The screen's explanation, if it gave one (free text, at most 200 characters).
    detail: str | None = None

    @property
    def ref(self) -> str:
        """How audit entries name it."""
        return f"command:{self.id}"


BulkRevokeResult = Literal["revoked", "already_revoked", "not_found"]


class BulkRevokeItem(msgspec.Struct, frozen=True):
    device_id: UUID
    result: BulkRevokeResult
