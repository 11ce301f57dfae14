""" "Why is this playing": ``GET .../devices/{did}/explain?at=``.

The use case reads what a recomputation of the device's manifest reads (the device's
planning profile, and :func:`~actors.usecases.manifests.planning_inputs`), in one
tenant-scoped transaction, and hands it to :func:`~actors.domain.explanations.
explain_device` — the manifest pipeline for one instant — in a worker thread, as
recomputations are. It is a read: nothing is written, so no audit entry.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from uuid import UUID

import anyio.to_thread
import msgspec

from actors.domain.explanations import Explanation, explain_device
from actors.domain.manifest_batch import DeviceScope
from actors.domain.principal import Principal
from actors.domain.rbac import Permission, authorize
from actors.domain.schedule_types import Instant
from actors.errors import Conflict, NotFound
from actors.ports.uow import UnitOfWork
from actors.usecases.manifests import Clock, ManifestPolicy, planning_inputs


class ExplainQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``?at=<RFC 3339 instant with an offset>``; absent: now. In a query string a ``+``
    means a space: send ``+01:00`` as ``%2B01:00``, or use ``Z``."""

    at: Instant | None = None


class Explanations:
    def __init__(
        self, uow: UnitOfWork, policy: ManifestPolicy, clock: Clock = lambda: datetime.now(UTC)
    ) -> None:
        self._uow = uow
        self._policy = policy
        self._clock = clock

    async def explain(
        self, who: Principal, tenant_id: UUID, device_id: UUID, at: datetime | None
    ) -> Explanation:
        """What ``device_id`` plays at ``at`` (``None``: now) and why each schedule entry
        that targets it plays or not. Needs ``device.read`` and ``schedule.read``.

        :raises NotFound: for an unknown device (another tenant's included).
        :raises Conflict: for a device that is not approved (it gets no manifest).
        :raises Invalid: (``at``) for an instant outside the explainable range.
        :raises Unavailable: if PostgreSQL cannot be reached.
        """
        authorize(who, Permission.DEVICE_READ, tenant_id)
        authorize(who, Permission.SCHEDULE_READ, tenant_id)
        when = self._clock() if at is None else at
        async with self._uow.tenant(tenant_id) as tx:
            device = await tx.devices.get(tenant_id, device_id)
            if device is None:
                raise NotFound("no such device")
            profiles = await tx.manifests.planning_devices(
                tenant_id, DeviceScope.devices(device_id)
            )
            if not profiles:
                raise Conflict(f"the device is {device.status}: it plays nothing")
            entries, playlists, contents = await planning_inputs(tx, tenant_id)
        return await anyio.to_thread.run_sync(
            functools.partial(
                explain_device,
                profiles[0],
                entries,
                playlists,
                contents,
                when,
                tenant_id=tenant_id,
                media_base_url=self._policy.media_base_url,
            )
        )
