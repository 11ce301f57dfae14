"""What each webhook event's ``data`` holds (docs/operations.md, "Webhooks") — pure.

Each is built by the use case that makes the change, from what it just wrote, and
encoded once into the delivery's body: receivers get the state as of the event, not as
of the attempt.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from actors.domain.emergencies import DeliveryReport, Emergency
from actors.protocol import EmergencyMode, Severity


class EmergencyData(msgspec.Struct, frozen=True, kw_only=True):
    """``emergency.triggered`` and ``emergency.cleared``."""

    emergency_id: UUID
    seq: int
    mode: EmergencyMode
    severity: Severity
    message: str
    targeted: int
    started_at: datetime
    expires_at: datetime | None
    started_by: str
    broadcast_id: UUID | None
    ended_at: datetime | None = None
    #: ``cleared`` (by ``ended_by``) or ``expired``.
    end_reason: str | None = None
    ended_by: str | None = None

    @classmethod
    def of(cls, e: Emergency) -> EmergencyData:
        return cls(
            emergency_id=e.id,
            seq=e.seq,
            mode=e.mode,
            severity=e.severity,
            message=e.message,
            targeted=e.targeted,
            started_at=e.started_at,
            expires_at=e.expires_at,
            started_by=e.started_by,
            broadcast_id=e.broadcast_id,
            ended_at=e.ended_at,
            end_reason=e.end_reason,
            ended_by=e.ended_by,
        )


class DeliveryIncompleteData(msgspec.Struct, frozen=True, kw_only=True):
    """``emergency.delivery_incomplete``: the delivery report ``after_s`` after the start
    (``pending``: online, not acknowledged; ``offline``: no session)."""

    emergency_id: UUID
    seq: int
    mode: EmergencyMode
    severity: Severity
    started_at: datetime
    after_s: int
    targeted: int
    delivered: int
    pending: int
    offline: int

    @classmethod
    def of(cls, e: Emergency, report: DeliveryReport, after_s: int) -> DeliveryIncompleteData:
        return cls(
            emergency_id=e.id,
            seq=e.seq,
            mode=e.mode,
            severity=e.severity,
            started_at=e.started_at,
            after_s=after_s,
            targeted=report.targeted,
            delivered=report.delivered,
            pending=report.pending,
            offline=report.offline,
        )


class DeviceOfflineData(msgspec.Struct, frozen=True, kw_only=True):
    """``device.offline``: no session anywhere since ``last_seen_at``."""

    device_id: UUID
    name: str | None
    groups: tuple[str, ...]
    last_seen_at: datetime


class DeviceOnlineData(msgspec.Struct, frozen=True, kw_only=True):
    """``device.online``: a session again, after the ``device.offline`` of
    ``offline_since`` (its last-seen time then)."""

    device_id: UUID
    name: str | None
    groups: tuple[str, ...]
    offline_since: datetime
    online_at: datetime


class ContentPendingData(msgspec.Struct, frozen=True, kw_only=True):
    """``content.pending_approval``: ``revision`` of the item awaits an approver (who
    must not be ``submitted_by``)."""

    content_id: UUID
    name: str
    kind: str
    revision: int
    submitted_by: str
