"""Device sessions: what the live layer needs from the socket edge and shared presence."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID, uuid4

import msgspec

from actors.domain.devices import Presence


class SessionIdentity(msgspec.Struct, frozen=True, kw_only=True):
    """The device a session is for, as authenticated at connect time."""

    device_id: UUID
    tenant_id: UUID
    groups: tuple[str, ...]
    timezone: str
    name: str | None = None
    #: Unique per connection: tells this session from the device's other (older) ones.
    session_id: UUID = msgspec.field(default_factory=uuid4)
    #: SHA-256 of the secret the session authenticated with: reconciliation closes a
    #: session whose device has rotated its secret since.
    secret_digest: bytes = b""
    #: Wall-clock seconds when it was authenticated: of two sessions of a device on two
    #: nodes, the older gives way (:class:`~actors.events.SessionsTakenOver`).
    opened_at: float = msgspec.field(default_factory=time.time)
    #: This node's monotonic clock just before its handshake's credential read began
    #: (``None``: not from a handshake): a session checked before its tenant actor's relay
    #: subscription was live is checked again (:mod:`actors.services.credential_rechecks`).
    checked_from: float | None = None


class Opening(msgspec.Struct, frozen=True):
    """What a new session is sent right after ``welcome``: its current manifest and every
    active emergency targeting it (pre-encoded frames)."""

    manifest: str | None = None
    urgent: tuple[str, ...] = ()
    #: The version ``manifest`` carries (lets the outbox refuse older ones later).
    manifest_version: int | None = None


class DeviceSocket(Protocol):
    """The screen's WebSocket, as the device actor sees it."""

    async def send(self, frame: str) -> None:
        """Send one text frame. May block while the screen is slow: callers bound it.

        :raises Exception: if the connection is gone (the session then ends).
        """
        ...

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code`` (idempotent, bounded, never raises)."""
        ...

    def send_nowait(self, frame: str) -> bool:
        """Hand ``frame`` to the connection at once if it can take it without waiting (a
        screen that keeps up); ``False`` — nothing sent — when :meth:`send` must be used.
        The fan-out's fast path: no timer, no await. Never raises."""
        ...

    def farewell_nowait(self, frame: str, code: int, reason: str) -> bool:
        """Hand ``frame`` and then the close (``code``) to the connection at once, without
        waiting for the screen's close reply (the shutdown's fast path: the node bounds
        every reply by one deadline, then drops the connections still open). ``False`` —
        nothing sent — when :meth:`send` and :meth:`close` must be used. Never raises."""
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


class SharedPresence(Protocol):
    """Presence shared by the nodes (Redis): ephemeral, expiring, never the truth."""

    async def publish(
        self, node_id: str, live: Sequence[tuple[UUID, UUID, datetime]], ttl_s: int
    ) -> None:
        """(Re)announce this node's live sessions ``(tenant_id, device_id, last_seen)``;
        each expires after ``ttl_s`` unless announced again."""
        ...

    async def forget(self, node_id: str, gone: Sequence[tuple[UUID, UUID]]) -> None:
        """Drop ``(tenant_id, device_id)`` sessions that ended here, unless another node
        announced them since (the device moved)."""
        ...

    async def lookup(self, tenant_id: UUID, device_ids: Sequence[UUID]) -> dict[UUID, Presence]:
        """Live sessions among ``device_ids``, on any node."""
        ...


class SessionDirectory(Protocol):
    """The truth about sessions, for reconciliation (implemented over PostgreSQL)."""

    async def allowed(
        self, tenant_id: UUID, device_ids: Sequence[UUID]
    ) -> dict[UUID, SessionIdentity]:
        """Which of ``device_ids`` may hold a session now (approved, tenant active), with
        their current groups and time zone; the others must be closed."""
        ...


class ManifestAckSink(Protocol):
    """Where manifest acknowledgements go besides the :class:`AckSink` (the manifest feed,
    which records what each screen holds)."""

    def manifest_acked(
        self, tenant_id: UUID, device_id: UUID, version: int, at: datetime
    ) -> None: ...
