"""Emergencies: what an operator may broadcast, to whom, and the events nodes act on — pure.

An emergency is a message of some severity for a *target* — every screen of the tenant,
screens in some groups, or a list of screens — optionally expiring. It starts, and later
ends once: cleared by an operator or expired. Each start and end takes the tenant's next
*sequence number*; the numbers are gapless per tenant, which is how a node knows it
missed an event (see :mod:`actors.domain.emergency_board`).

:class:`EmergencyStarted` and :class:`EmergencyEnded` are the tenant events that cross
the relay; they carry everything a node needs to fan out without asking PostgreSQL.
The operator-facing rules are in ``docs/emergencies.md``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from actors.domain.targets import Target, TargetSpec
from actors.protocol import (
    EmergencyClearFrame,
    EmergencyFrame,
    EmergencyMode,
    Severity,
    encode_text,
)

#: Longest message (characters); the screen's frame stays well under a few KiB.
MAX_MESSAGE_CHARS = 1000
#: Longest ``expires_in_s``: an emergency that should outlast a week is a schedule.
MAX_EXPIRES_IN_S = 7 * 24 * 3600

EndReason = Literal["cleared", "expired"]

#: Printable text, line breaks allowed, at least one visible character.
EmergencyMessage = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_MESSAGE_CHARS,
        pattern=r"^[^\x00-\x09\x0b-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x09\x0b-\x1f\x7f]*$",
    ),
]
ExpiresIn = Annotated[int, msgspec.Meta(ge=1, le=MAX_EXPIRES_IN_S)]


class TriggerEmergency(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST .../emergencies`` (and the platform-wide ``POST /api/v1/emergencies``)."""

    message: EmergencyMessage
    severity: Severity
    target: TargetSpec
    expires_in_s: ExpiresIn | None = None
    #: ``drill``: an exercise (refused while a live emergency is active; ended by one).
    mode: EmergencyMode = "live"


# --- the tenant events (they cross the relay) ----------------------------------------------


class EmergencyStarted(
    msgspec.Struct,
    frozen=True,
    forbid_unknown_fields=True,
    omit_defaults=True,
    tag="emergency_started",
):
    """Emergency ``id`` started with sequence number ``seq``: show it on its target now.

    ``mode`` is left out of a live start's encoding, so that a node of the previous
    version (which knows no ``mode``) still decodes every live start from the relay.
    """

    id: UUID
    seq: int
    message: str
    severity: Severity
    target: Target
    started_at: datetime
    expires_at: datetime | None
    mode: EmergencyMode = "live"

    def frame(self) -> str:
        """The screens' ``emergency`` frame, encoded (once per node, shared by all)."""
        return encode_text(
            EmergencyFrame(
                id=self.id,
                seq=self.seq,
                message=self.message,
                severity=self.severity,
                started_at=self.started_at,
                expires_at=self.expires_at,
                mode=self.mode,
            )
        )

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


class EmergencyEnded(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="emergency_ended"
):
    """Emergency ``id`` ended (cleared or expired) with sequence number ``seq``."""

    id: UUID
    seq: int
    reason: EndReason


def clear_frame(emergency_id: UUID, seq: int) -> str:
    """The screens' ``emergency_clear`` frame, encoded."""
    return encode_text(EmergencyClearFrame(id=emergency_id, seq=seq))


EmergencyEvent = EmergencyStarted | EmergencyEnded


# --- the stored record ---------------------------------------------------------------------


class Emergency(msgspec.Struct, frozen=True, kw_only=True):
    """One emergency of one tenant, as stored."""

    id: UUID
    tenant_id: UUID
    seq: int
    message: str
    severity: Severity
    target: Target
    #: Approved devices the target matched when it started (PostgreSQL's count).
    targeted: int
    started_at: datetime
    expires_at: datetime | None
    #: Who started it, as audit names them (``user:<id>``).
    started_by: str
    #: Shared by the rows of one platform-wide broadcast.
    broadcast_id: UUID | None = None
    mode: EmergencyMode = "live"
    ended_at: datetime | None = None
    ended_seq: int | None = None
    end_reason: EndReason | None = None
    ended_by: str | None = None

    @property
    def active(self) -> bool:
        return self.ended_at is None

    @property
    def ref(self) -> str:
        """How audit entries name it."""
        return f"emergency:{self.id}"

    @property
    def drill(self) -> bool:
        return self.mode == "drill"

    def started(self) -> EmergencyStarted:
        return EmergencyStarted(
            id=self.id,
            seq=self.seq,
            message=self.message,
            severity=self.severity,
            target=self.target,
            started_at=self.started_at,
            expires_at=self.expires_at,
            mode=self.mode,
        )

    def ended(self) -> EmergencyEnded | None:
        if self.ended_seq is None or self.end_reason is None:
            return None
        return EmergencyEnded(id=self.id, seq=self.ended_seq, reason=self.end_reason)


class EmergencySnapshot(msgspec.Struct, frozen=True):
    """A tenant's emergencies as of one instant, for a node (re)building its view.

    ``head`` is the tenant's last sequence number at that instant: every event up to it
    is reflected in ``active`` (still going) and ``ended`` (recently ended, and any the
    node asked about).
    """

    head: int
    active: tuple[EmergencyStarted, ...]
    ended: tuple[Emergency, ...]


# --- acknowledgements and the delivery report ----------------------------------------------


class EmergencyAck(msgspec.Struct, frozen=True):
    """A screen acknowledged an emergency (as a node heard it; stored in batches)."""

    tenant_id: UUID
    device_id: UUID
    emergency_id: UUID
    at: datetime
    node_id: str


class AckStats(msgspec.Struct, frozen=True):
    """What PostgreSQL knows of an emergency's acknowledgements."""

    delivered: int
    #: Commit to acknowledgement, nearest-rank percentiles; ``None`` without acks.
    p50_ms: float | None
    p99_ms: float | None


class DeliveryReport(msgspec.Struct, frozen=True, kw_only=True):
    """``delivery`` in ``GET .../emergencies/{id}``: ``targeted`` = ``delivered`` (acked)
    + ``pending`` (online, not acked yet) + ``offline`` (no live session)."""

    targeted: int
    delivered: int
    pending: int
    offline: int
    p50_ms: float | None
    p99_ms: float | None

    @classmethod
    def of(cls, acks: AckStats, unacked: int, online: int) -> DeliveryReport:
        """From the ack statistics and the targeted devices without an ack (``unacked``),
        ``online`` of which hold a session somewhere."""
        online = min(online, unacked)
        return cls(
            targeted=acks.delivered + unacked,
            delivered=acks.delivered,
            pending=online,
            offline=unacked - online,
            p50_ms=acks.p50_ms,
            p99_ms=acks.p99_ms,
        )
