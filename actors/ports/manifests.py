"""Stored manifests and the refresh a schedule change asks for."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from actors.domain.device_manifests import StoredManifest
from actors.domain.manifest_batch import DeviceScope, PlannedDocument
from actors.domain.schedule_types import DeviceProfile


class ManifestRepository(Protocol):
    async def lock(self, tenant_id: UUID) -> int:
        """The tenant's manifest version counter, row-locked until the transaction ends:
        one recomputation per tenant at a time, on every node."""
        ...

    async def planning_devices(self, tenant_id: UUID, scope: DeviceScope) -> list[DeviceProfile]:
        """The tenant's approved devices in ``scope``, as resolution sees them."""
        ...

    async def hashes(self, tenant_id: UUID, device_ids: Collection[UUID]) -> dict[UUID, str]:
        """The hash of each device's current document (devices without one are absent)."""
        ...

    async def store(
        self,
        tenant_id: UUID,
        *,
        version: int,
        documents: Collection[PlannedDocument],
        changed: Mapping[UUID, str],
        computed_at: datetime,
    ) -> None:
        """Give each device in ``changed`` its new document (by hash) at ``version``, set
        the tenant's counter to ``version`` and drop documents no device uses any more."""
        ...

    async def forget_unapproved(self, tenant_id: UUID) -> int:
        """Drop the manifests of the tenant's devices that are no longer approved."""
        ...

    async def get(self, tenant_id: UUID, device_id: UUID) -> StoredManifest | None: ...

    async def newer(
        self, tenant_id: UUID, known: Mapping[UUID, int]
    ) -> list[tuple[UUID, int, str]]:
        """``(device id, version, document)`` for each device of ``known`` whose stored
        version is above the one given (0: any stored version)."""
        ...

    async def current(self, tenant_id: UUID) -> tuple[list[tuple[UUID, int, str]], list[UUID]]:
        """Every approved device's stored ``(device id, version, document)``, and the
        approved devices that have none yet."""
        ...

    async def claim_due(self, *, before: datetime, lease_s: float, limit: int) -> list[UUID]:
        """Platform scope: lease up to ``limit`` tenants that have manifests planned from
        before ``before`` and no live lease; returns their ids."""
        ...

    async def record_acks(self, acks: Sequence[tuple[UUID, UUID, int, datetime]]) -> int:
        """Platform scope: ``(tenant_id, device_id, version, at)``; never moves an ack
        backwards nor past the version the device has."""
        ...


class ManifestRefresh(Protocol):
    """Recomputes manifests after a committed change, off the caller's path."""

    def refresh(self, tenant_id: UUID, scope: DeviceScope) -> None:
        """Schedule the recomputation of the manifests of ``scope``'s devices (merged
        with any pending one); changed manifests reach the screens within seconds."""
        ...


class Recomputation(Protocol):
    """What a recomputation returns that the manifest feed uses."""

    @property
    def frames(self) -> Mapping[UUID, tuple[int, str]]:
        """The new ``(version, frame)`` of each device whose manifest changed."""
        ...


class StoredFrames(Protocol):
    """What a tenant-wide read returns that the manifest feed uses."""

    @property
    def frames(self) -> Mapping[UUID, tuple[int, str]]:
        """``(version, frame)`` of each approved device with a stored manifest."""
        ...

    @property
    def unplanned(self) -> Sequence[UUID]:
        """The approved devices without one yet."""
        ...


class ManifestSource(Protocol):
    """What the manifest feed (:mod:`actors.services.manifest_feed`) needs from the
    manifests use case (:class:`~actors.usecases.manifests.Manifests` implements it)."""

    async def recompute(self, tenant_id: UUID, scope: DeviceScope) -> Recomputation: ...

    async def frames(
        self, tenant_id: UUID, known: Mapping[UUID, int]
    ) -> dict[UUID, tuple[int, str]]: ...

    async def current(self, tenant_id: UUID) -> StoredFrames: ...

    async def claim_due(self, limit: int) -> list[UUID]: ...

    async def record_acks(self, acks: list[tuple[UUID, UUID, int, datetime]]) -> int: ...


class OpeningManifests(Protocol):
    """A session's opening manifest, ``(version, frame)`` or ``None`` (implemented by
    :meth:`~actors.services.manifest_feed.ManifestFeed.fetch`)."""

    async def fetch(self, tenant_id: UUID, device_id: UUID) -> tuple[int, str] | None: ...
