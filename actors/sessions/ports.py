"""What a device session needs from the edge (the socket) and from the store (its opening
frames, its acknowledgements)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

import msgspec


class SessionIdentity(msgspec.Struct, frozen=True, kw_only=True):
    """The device a session is for, as authenticated at connect time."""

    device_id: UUID
    tenant_id: UUID
    groups: tuple[str, ...]
    timezone: str
    name: str | None = None
    #: SHA-256 of the secret the session authenticated with: reconciliation closes a
    #: session whose device has rotated its secret since.
    secret_digest: bytes = b""


class Opening(msgspec.Struct, frozen=True):
    """What a new session is sent right after ``welcome``: its current manifest and every
    active emergency targeting it (pre-encoded frames)."""

    manifest: bytes | None = None
    urgent: tuple[bytes, ...] = ()


class DeviceSocket(Protocol):
    """The screen's WebSocket, as the device actor sees it."""

    async def send(self, frame: bytes) -> None:
        """Send one text frame. May block while the screen is slow: callers bound it.

        :raises Exception: if the connection is gone (the session then ends).
        """
        ...

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code`` (idempotent, bounded, never raises)."""
        ...


class SessionOpening(Protocol):
    async def opening(self, device: SessionIdentity, last_seq: int | None) -> Opening:
        """The frames a session starts with. ``last_seq`` (from ``hello``) lets the
        implementation skip emergencies the screen already has."""
        ...


class AckSink(Protocol):
    """Where acknowledgements go; implementations batch them (never one write per ack)."""

    def emergency_acked(
        self, tenant_id: UUID, device_id: UUID, emergency_id: UUID, at: datetime
    ) -> None: ...

    def manifest_acked(
        self, tenant_id: UUID, device_id: UUID, version: int, at: datetime
    ) -> None: ...
