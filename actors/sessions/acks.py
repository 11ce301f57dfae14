"""Acknowledgement sink used until acknowledgements are persisted: it keeps per-node
counters only (visible in ``/metrics``), and is replaced by the batched PostgreSQL writer
when emergency delivery reports are built."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from actors.metrics import MetricsRegistry
from actors.sessions.ports import AckSink


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


class ManifestAckSink(Protocol):
    def manifest_acked(
        self, tenant_id: UUID, device_id: UUID, version: int, at: datetime
    ) -> None: ...


class WithManifestAcks:
    """Implements :class:`~actors.sessions.ports.AckSink`: everything goes to ``acks``;
    manifest versions also to ``manifests`` (which stores what each screen has)."""

    def __init__(self, acks: AckSink, manifests: ManifestAckSink) -> None:
        self._acks = acks
        self._manifests = manifests

    def emergency_acked(
        self, tenant_id: UUID, device_id: UUID, emergency_id: UUID, at: datetime
    ) -> None:
        self._acks.emergency_acked(tenant_id, device_id, emergency_id, at)

    def manifest_acked(self, tenant_id: UUID, device_id: UUID, version: int, at: datetime) -> None:
        self._acks.manifest_acked(tenant_id, device_id, version, at)
        self._manifests.manifest_acked(tenant_id, device_id, version, at)
