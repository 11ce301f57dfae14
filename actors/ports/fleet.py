"""Fleet health and remote commands."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from actors.domain.fleet import (
    CommandAnswer,
    CommandName,
    DeviceCommand,
    DeviceHealth,
    StatusReport,
)
from actors.protocol import CommandResultFrame, Heartbeat


class FleetRepository(Protocol):
    async def record_health(self, reports: Sequence[StatusReport]) -> int:
        """Batch: each screen's latest status; an older one than stored changes nothing,
        one of a device that no longer exists (or of another tenant) is skipped.
        Platform scope (one statement for every tenant's screens)."""
        ...

    async def health(self, tenant_id: UUID, device_ids: Sequence[UUID]) -> dict[UUID, DeviceHealth]:
        """The stored status of those of ``device_ids`` that reported one."""
        ...

    async def open_commands(self, tenant_id: UUID, device_id: UUID) -> int:
        """The device's commands still waiting for an answer (sent, not expired)."""
        ...

    async def add_command(
        self,
        *,
        command_id: UUID,
        tenant_id: UUID,
        device_id: UUID,
        name: CommandName,
        issued_by: str,
        ttl_s: int,
        keep: int,
    ) -> DeviceCommand:
        """Store a ``sent`` command expiring in ``ttl_s``; keep the device's ``keep``
        newest commands only."""
        ...

    async def commands(self, tenant_id: UUID, device_id: UUID, limit: int) -> list[DeviceCommand]:
        """The device's newest commands first (``expired`` computed now)."""
        ...

    async def record_answers(self, answers: Sequence[CommandAnswer]) -> int:
        """Batch: screens' answers; only an answer from the command's own device, to a
        command still ``sent`` and not expired at the answer's time, is stored. Platform
        scope. Returns how many were stored."""
        ...


class FleetSink(Protocol):
    """Where device actors hand status reports and command answers; implementations
    batch them (never one write per heartbeat) and never block or raise."""

    def status(self, tenant_id: UUID, device_id: UUID, heartbeat: Heartbeat, at: datetime) -> None:
        """``heartbeat`` (which carries status fields) is the screen's latest status."""
        ...

    def answered(
        self, tenant_id: UUID, device_id: UUID, frame: CommandResultFrame, at: datetime
    ) -> None:
        """The screen answered a command."""
        ...


class NoFleet:
    """Implements :class:`FleetSink` by dropping everything (unit tests, tools)."""

    def status(self, tenant_id: UUID, device_id: UUID, heartbeat: Heartbeat, at: datetime) -> None:
        return None

    def answered(
        self, tenant_id: UUID, device_id: UUID, frame: CommandResultFrame, at: datetime
    ) -> None:
        return None
