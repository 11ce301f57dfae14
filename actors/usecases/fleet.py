"""Fleet administration: delete, bulk revocation and remote commands (device managers),
and the commands' history (viewers). docs/devices.md, "Status" and "Commands".

Every action is authorized first and audited in the tenant's chain in the same
transaction; what live sessions must learn is published after commit (to this node's
tenant actor at once, to the other nodes through the relay), as the other device events.
"""

from __future__ import annotations

import logging
from typing import Annotated
from uuid import UUID, uuid4

import msgspec

from actors.domain.fleet import (
    COMMAND_MAX_TTL_S,
    COMMAND_TTL_S,
    COMMANDS_KEPT,
    MAX_BULK_REVOKE,
    MAX_OPEN_COMMANDS,
    BulkRevokeItem,
    CommandName,
    DeviceCommand,
)
from actors.domain.principal import Principal
from actors.domain.rbac import Permission, authorize
from actors.errors import Conflict, NotFound, Throttled
from actors.events import DeviceCommandSent, DeviceRevoked, DevicesRevoked
from actors.ports.devices import PresenceReader
from actors.ports.events import TenantEvents
from actors.ports.uow import UnitOfWork

log = logging.getLogger(__name__)

#: How long a device manager waits before sending more commands to a screen whose
#: ``MAX_OPEN_COMMANDS`` are all waiting for an answer.
OPEN_COMMANDS_RETRY_S = 5


class SendCommand(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: CommandName
    #: How long the screen has to answer before the command reads ``expired``.
    ttl_s: Annotated[int, msgspec.Meta(ge=5, le=COMMAND_MAX_TTL_S)] = COMMAND_TTL_S


class CommandList(msgspec.Struct, frozen=True):
    """A device's commands, newest first (the last ``COMMANDS_KEPT``)."""

    items: list[DeviceCommand]


class BulkRevoke(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    device_ids: Annotated[list[UUID], msgspec.Meta(min_length=1, max_length=MAX_BULK_REVOKE)]


class BulkRevoked(msgspec.Struct, frozen=True):
    """One result per distinct id asked, in the order asked."""

    items: list[BulkRevokeItem]


class Fleet:
    def __init__(self, uow: UnitOfWork, events: TenantEvents, presence: PresenceReader) -> None:
        self._uow = uow
        self._events = events
        self._presence = presence

    async def delete(self, who: Principal, tenant_id: UUID, device_id: UUID) -> None:
        """Delete a device for good, with its status, commands and acknowledgements; a
        live session of it, on any node, is closed with 4401 (as for a revocation).

        :raises NotFound: (404) for an unknown device or another tenant's.
        """
        authorize(who, Permission.DEVICE_MANAGE, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            deleted = await tx.devices.delete(tenant_id, device_id)
            if deleted is None:
                raise NotFound("no such device")
            await tx.audit.append(
                tenant_id, who, "device.delete", target=deleted.ref, before=deleted
            )
        # Its secret is gone with the row: this only closes sessions open now.
        await self._events.publish(tenant_id, DeviceRevoked(device_id))

    async def revoke_many(self, who: Principal, tenant_id: UUID, cmd: BulkRevoke) -> BulkRevoked:
        """Revoke every listed device in one transaction (all are revoked, or none if it
        fails), one audit entry per device revoked; each id gets its own result. An id
        that names no device of the tenant is ``not_found`` and changes nothing."""
        authorize(who, Permission.DEVICE_MANAGE, tenant_id)
        asked = list(dict.fromkeys(cmd.device_ids))
        async with self._uow.tenant(tenant_id) as tx:
            before = {d.id: d for d in await tx.devices.many_for_update(tenant_id, asked)}
            due = [d for d in before if before[d].status != "revoked"]
            after = {d.id: d for d in await tx.devices.revoke_many(tenant_id, due)}
            for device_id in due:
                await tx.audit.append(
                    tenant_id,
                    who,
                    "device.revoke",
                    target=after[device_id].ref,
                    before=before[device_id],
                    after=after[device_id],
                    details={"bulk": True},
                )
        found = tuple(d for d in asked if d in before)
        if found:
            # Already revoked ones too: a node that missed their first event closes now.
            await self._events.publish(tenant_id, DevicesRevoked(found))
        items = [
            BulkRevokeItem(
                d,
                "not_found" if d not in before else "revoked" if d in after else "already_revoked",
            )
            for d in asked
        ]
        log.info("tenant %s: %d devices revoked in bulk", tenant_id, len(after))
        return BulkRevoked(items=items)

    async def send_command(
        self, who: Principal, tenant_id: UUID, device_id: UUID, cmd: SendCommand
    ) -> DeviceCommand:
        """Send a command to the screen, wherever it is connected; it reads ``sent`` until
        the screen answers (or ``expired``, ``ttl_s`` later).

        :raises NotFound: (404) for an unknown device or another tenant's.
        :raises Conflict: (409) if the device is not approved, or has no live session
            (commands are never queued for a screen that is offline).
        :raises Throttled: (429) while ``MAX_OPEN_COMMANDS`` of its commands wait.
        """
        authorize(who, Permission.DEVICE_MANAGE, tenant_id)
        online = await self._presence.lookup(tenant_id, [device_id])
        async with self._uow.tenant(tenant_id) as tx:
            # The row lock orders one device's commands: the bound below holds on every node.
            device = await tx.devices.get(tenant_id, device_id, for_update=True)
            if device is None:
                raise NotFound("no such device")
            if device.status != "approved":
                raise Conflict(f"the device is {device.status}")
            if device_id not in online:
                raise Conflict("the device is offline: commands are not queued")
            if await tx.fleet.open_commands(tenant_id, device_id) >= MAX_OPEN_COMMANDS:
                raise Throttled(
                    f"{MAX_OPEN_COMMANDS} commands are waiting for this screen's answer",
                    retry_after=OPEN_COMMANDS_RETRY_S,
                )
            command = await tx.fleet.add_command(
                command_id=uuid4(),
                tenant_id=tenant_id,
                device_id=device_id,
                name=cmd.name,
                issued_by=who.actor.ref,
                ttl_s=cmd.ttl_s,
                keep=COMMANDS_KEPT,
            )
            await tx.audit.append(
                tenant_id,
                who,
                "device.command",
                target=device.ref,
                details={"command_id": str(command.id), "name": cmd.name, "ttl_s": cmd.ttl_s},
            )
        await self._events.publish(
            tenant_id, DeviceCommandSent(device_id=device_id, command_id=command.id, name=cmd.name)
        )
        return command

    async def commands(self, who: Principal, tenant_id: UUID, device_id: UUID) -> CommandList:
        """The device's last commands with their state, newest first.

        :raises NotFound: (404) for an unknown device or another tenant's.
        """
        authorize(who, Permission.DEVICE_READ, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            if await tx.devices.get(tenant_id, device_id) is None:
                raise NotFound("no such device")
            items = await tx.fleet.commands(tenant_id, device_id, COMMANDS_KEPT)
        return CommandList(items=items)
