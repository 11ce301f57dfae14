"""Tenant events: what changes in PostgreSQL that live sessions on every node must learn.

A use case commits its change, then publishes one of these for the tenant: the local
tenant actor gets it at once and the relay carries it to the other nodes' tenant actors
(once per node, never per device). The relay may lose them (principle 4), so each event
only *tells* nodes to act on what PostgreSQL already holds; a node that missed one catches
up through the relay's gap hook (``Resync``) or the periodic reconciliation.
"""

from __future__ import annotations

from uuid import UUID

import msgspec

from actors.domain.emergencies import EmergencyEnded, EmergencyStarted
from actors.domain.fleet import CommandName


class DeviceRevoked(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="device_revoked"):
    """Close the device's sessions (4401) on every node; its secret is refused from now."""

    device_id: UUID


class DevicesRevoked(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="devices_revoked"
):
    """A bulk revocation: close these devices' sessions (4401) on every node (one relay
    message for all of them)."""

    device_ids: tuple[UUID, ...]


class DeviceCommandSent(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="device_command_sent"
):
    """A remote command for the device: the node holding its session sends the screen a
    ``command`` frame (the others ignore it). Lost with the relay: the command expires."""

    device_id: UUID
    command_id: UUID
    name: CommandName


class DeviceSecretRotated(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="device_secret_rotated"
):
    """Close the sessions opened with the old secret (4401); the new secret connects."""

    device_id: UUID
    #: SHA-256 of the secret it replaced (no longer valid, so harmless to relay): a session
    #: checked on it just before the rotation is refused when it registers after this
    #: notice (:mod:`actors.node.recent_revocations`). ``None`` from an older node.
    old_secret_digest: bytes | None = None


class DeviceUpdated(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="device_updated"):
    """A device's name, groups or time zone changed (targeting and manifests follow)."""

    device_id: UUID
    groups: tuple[str, ...]
    timezone: str


class TenantSuspended(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="tenant_suspended"
):
    """Close every session of the tenant (4401); devices are refused until it resumes."""


class SessionTakenOver(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="session_taken_over"
):
    """A device opened session ``session_id``: any other session of it, on any node, is
    closed (4409) — one screen, one session."""

    device_id: UUID
    session_id: UUID


class SessionsTakenOver(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="sessions_taken_over"
):
    """Sessions a node opened, ``(device_id, session_id, opened_at)`` each (``opened_at``:
    wall-clock seconds): any *older* session of those devices, on any other node, is
    closed (4409). One message per tenant and round (:mod:`actors.node.takeovers`), so a
    reconnect storm costs the relay a few messages, not one per screen; a message that
    arrives late (after the screen moved on to a newer session) closes nothing."""

    sessions: tuple[tuple[UUID, UUID, float], ...]


class ManifestsChanged(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="manifests_changed"
):
    """New manifest ``version`` stored for ``device_ids`` (``None``: possibly any device of
    the tenant): each node loads the newer manifests of its sessions and pushes them."""

    version: int
    device_ids: tuple[UUID, ...] | None = None


TENANT_EVENTS: tuple[type[msgspec.Struct], ...] = (
    DeviceRevoked,
    DevicesRevoked,
    DeviceCommandSent,
    DeviceSecretRotated,
    DeviceUpdated,
    TenantSuspended,
    SessionTakenOver,
    SessionsTakenOver,
    ManifestsChanged,
    # Defined with their rules in actors/domain/emergencies.py; unlike the others they
    # carry a per-tenant sequence number, so a node that misses one notices and reads it
    # back from PostgreSQL's outbox.
    EmergencyStarted,
    EmergencyEnded,
)
