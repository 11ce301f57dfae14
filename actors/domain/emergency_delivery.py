"""Per-screen delivery of an emergency: which state each targeted screen is in — pure.

One rule (:func:`delivery_state`) decides a screen's state, and both views of an
emergency's delivery are built on it: the report's counters (``delivery`` in
``GET .../emergencies/{id}``, :class:`~actors.domain.emergencies.DeliveryReport`) and the
per-screen list (``GET .../emergencies/{id}/deliveries``). A screen is

- ``delivered`` once PostgreSQL holds its acknowledgement (acks are written in batches,
  every ``EMERGENCY_ACK_FLUSH_S``);
- ``pending`` while it has a live session somewhere (presence) but no stored ack;
- ``offline`` otherwise: no stored ack and no live session.

The *targeted* screens are the same for both views: the approved devices the target
selects now, plus any that acknowledged it since (a screen revoked or regrouped after its
ack still counts as delivered). The store reads that set in one place
(``store/repos/emergencies.py``, ``_TARGETED_SCREENS``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal
from uuid import UUID

import msgspec

DeliveryState = Literal["delivered", "pending", "offline"]


def delivery_state(*, acked: bool, online: bool) -> DeliveryState:
    """The state of one targeted screen: acknowledged (stored), else online, else not."""
    if acked:
        return "delivered"
    return "pending" if online else "offline"


def tally(states: Iterable[DeliveryState]) -> dict[DeliveryState, int]:
    """How many screens are in each state (every state present, zeros included)."""
    counts: dict[DeliveryState, int] = {"delivered": 0, "pending": 0, "offline": 0}
    for state in states:
        counts[state] += 1
    return counts


class TargetedScreen(msgspec.Struct, frozen=True, kw_only=True):
    """A targeted screen as PostgreSQL knows it: its stored ack, if any."""

    device_id: UUID
    name: str
    acked_at: datetime | None
    #: From the emergency's start to the ack (never negative); ``None`` without an ack.
    latency_ms: float | None


class ScreenDelivery(msgspec.Struct, frozen=True, kw_only=True):
    """One row of ``GET .../emergencies/{id}/deliveries``."""

    device_id: UUID
    name: str
    state: DeliveryState
    #: The node holding the screen's live session now (presence); ``null`` when offline.
    node: str | None
    #: When its acknowledgement was received (the receiving node's clock).
    acked_at: datetime | None
    #: From the emergency's start to the acknowledgement, in milliseconds.
    latency_ms: float | None

    @classmethod
    def of(cls, screen: TargetedScreen, node: str | None) -> ScreenDelivery:
        """``screen`` with the node presence shows it on (``None``: no live session)."""
        return cls(
            device_id=screen.device_id,
            name=screen.name,
            state=delivery_state(acked=screen.acked_at is not None, online=node is not None),
            node=node,
            acked_at=screen.acked_at,
            latency_ms=screen.latency_ms,
        )
