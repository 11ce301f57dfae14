"""Acknowledgement sink used until acknowledgements are persisted: it keeps per-node
counters only (visible in ``/metrics``), and is replaced by the batched PostgreSQL writer
when emergency delivery reports are built."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from actors.metrics import MetricsRegistry


class CountingAcks:
    """Implements :class:`~actors.sessions.ports.AckSink` by counting."""

    def __init__(self, metrics: MetricsRegistry) -> None:
        self._acks = metrics.counter(
            "signage_device_acks_total", "Acknowledgements received from devices.", labels=("kind",)
        )

    def emergency_acked(
        self, tenant_id: UUID, device_id: UUID, emergency_id: UUID, at: datetime
    ) -> None:
        self._acks.inc(kind="emergency")

    def manifest_acked(self, tenant_id: UUID, device_id: UUID, version: int, at: datetime) -> None:
        self._acks.inc(kind="manifest")
