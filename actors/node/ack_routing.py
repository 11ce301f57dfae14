"""Routing a session's acknowledgements: every ack to the batched writer, manifest
versions also to the manifest feed (which records what each screen holds)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from actors.ports.sessions import AckSink, ManifestAckSink


class WithManifestAcks:
    """Implements :class:`~actors.ports.sessions.AckSink`: everything goes to ``acks``;
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
