"""Manifests: recompute what devices play, store new versions, announce them.

:meth:`Manifests.recompute` is the one place manifests are written. It runs for a tenant
and a :class:`~actors.domain.manifest_batch.DeviceScope`, in one transaction that first
takes the tenant's manifest lock (so recomputations of one tenant never interleave, on
any node, and each reads everything committed before it), plans every device in scope at
once (:func:`~actors.domain.manifest_batch.plan_batch`, in a worker thread: the event loop
keeps serving screens meanwhile), and writes only the devices whose document's hash
changed, all under the tenant's next version. It returns the new frames of the changed
devices (the feed hands them straight to this node's sessions: nothing is read back), and
after commit publishes one :class:`~actors.events.ManifestsChanged` for the tenant to
the *other* nodes, which read and push the new versions to the sessions they hold.

No device is ever given a document over ``MANIFEST_MAX_BYTES``: the writes that would
cause one are refused in their own transaction (:class:`ManifestSizeGuard`), and a
recomputation leaves a device whose new document is still too big (time moved a bigger
mix into its horizon) on the one it has, with a warning.

It is called by :class:`~actors.services.manifest_feed.ManifestFeed` (after admin changes,
as the horizon moves, for a new device's first manifest), never on an HTTP request's path
except :meth:`Manifests.of_device` for a device that has no manifest yet.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

import anyio.to_thread
import msgspec

from actors.domain.device_manifests import frame_text
from actors.domain.manifest_batch import BatchPlan, DeviceScope, Horizon, plan_batch
from actors.domain.manifest_plan import (
    ContentSnapshot,
    Manifest,
    ManifestContent,
    ManifestSlice,
    Playlist,
)
from actors.domain.principal import Principal
from actors.domain.rbac import Permission, authorize
from actors.domain.schedule_types import ScheduleEntry
from actors.errors import Conflict, NotFound
from actors.events import ManifestsChanged
from actors.ports.events import OtherNodes
from actors.ports.uow import Tx, UnitOfWork
from actors.settings import Settings

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class ManifestPolicy(msgspec.Struct, frozen=True, kw_only=True):
    horizon: Horizon
    media_base_url: str
    notice_max_ids: int
    lease_s: float
    #: The largest document (canonical JSON bytes) a device may be sent.
    max_bytes: int = 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> ManifestPolicy:
        return cls(
            horizon=Horizon(
                ahead=timedelta(seconds=settings.manifests.horizon_s),
                step=timedelta(seconds=settings.manifests.step_s),
            ),
            media_base_url=settings.content.media_base_url,
            notice_max_ids=settings.manifests.notice_max_ids,
            lease_s=settings.manifests.lease_s,
            max_bytes=settings.manifests.max_bytes,
        )


class Recomputed(msgspec.Struct, frozen=True, kw_only=True):
    """What one recomputation did (logged, and returned to benchmarks and tests)."""

    tenant_id: UUID
    devices: int
    changed: int
    distinct_timelines: int
    #: The version the changed devices now have (``None``: nothing changed).
    version: int | None
    plan_s: float
    total_s: float
    #: The ``manifest`` frame ``(version, text)`` of each changed device (devices sharing
    #: a document share one string).
    frames: dict[UUID, tuple[int, str]] = msgspec.field(default_factory=dict)


class TenantFrames(msgspec.Struct, frozen=True, kw_only=True):
    """A tenant's stored frames (:meth:`Manifests.current`)."""

    #: ``(version, frame)`` of each approved device with a stored manifest.
    frames: dict[UUID, tuple[int, str]]
    #: The approved devices without one yet.
    unplanned: tuple[UUID, ...]


def _frames_of(rows: Iterable[tuple[UUID, int, str]]) -> dict[UUID, tuple[int, str]]:
    """``{device: (version, frame)}`` from stored ``(device, version, document)`` rows."""
    # Devices sharing a document and version share one frame string (str hashes are
    # cached: after the first device, the look-up does not rehash the document).
    shared: dict[tuple[int, str], str] = {}
    found: dict[UUID, tuple[int, str]] = {}
    for device_id, version, document in rows:
        key = (version, document)
        frame = shared.get(key)
        if frame is None:
            frame = shared[key] = frame_text(version, document)
        found[device_id] = (version, frame)
    return found


class DeviceManifestView(msgspec.Struct, frozen=True, kw_only=True):
    """``GET .../devices/{did}/manifest``: the stored manifest with its bookkeeping."""

    device_id: UUID
    version: int
    hash: str
    computed_at: datetime
    acked_version: int | None
    acked_at: datetime | None
    starts_at: datetime
    ends_at: datetime
    slices: tuple[ManifestSlice, ...]
    content: tuple[ManifestContent, ...]


_manifest_decoder = msgspec.json.Decoder(Manifest)


class Manifests:
    def __init__(
        self,
        uow: UnitOfWork,
        others: OtherNodes,
        policy: ManifestPolicy,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self._uow = uow
        self._others = others
        self._policy = policy
        self._clock = clock

    @property
    def policy(self) -> ManifestPolicy:
        return self._policy

    async def recompute(self, tenant_id: UUID, scope: DeviceScope) -> Recomputed:
        """Recompute the manifests of ``scope``'s approved devices; store the changed ones,
        return their frames and tell the other nodes (see the module docstring). With
        ``scope.everyone``, manifests of devices no longer approved are dropped too.

        :raises Unavailable: if PostgreSQL cannot be reached (nothing is written).
        """
        started = time.perf_counter()
        now = self._clock()
        plan: BatchPlan | None = None
        version: int | None = None
        plan_s = 0.0
        async with self._uow.tenant(tenant_id) as tx:
            last = await tx.manifests.lock(tenant_id)
            if scope.everyone:
                await tx.manifests.forget_unapproved(tenant_id)
            planning = time.perf_counter()
            plan = await plan_scope(tx, tenant_id, scope, self._policy, now, stored_hashes=True)
            if plan is not None:
                plan_s = time.perf_counter() - planning
                if plan.substituted_zones:
                    log.warning(
                        "tenant %s: devices in unusable time zones %s planned in UTC",
                        tenant_id,
                        ", ".join(plan.substituted_zones),
                    )
                plan = _within_limit(tenant_id, plan, self._policy.max_bytes)
                if plan.changed:
                    version = last + 1
                    await tx.manifests.store(
                        tenant_id,
                        version=version,
                        documents=plan.documents.values(),
                        changed=plan.changed,
                        computed_at=now,
                    )
        frames: dict[UUID, tuple[int, str]] = {}
        if plan is not None and version is not None:
            notice = self._notice(version, list(plan.changed))
            if not await self._others.publish(tenant_id, notice):
                # They catch up from PostgreSQL after the relay gap (or periodically).
                log.warning("relay did not take the manifest notice for tenant %s", tenant_id)
            shared = {
                digest: frame_text(version, planned.document)
                for digest, planned in plan.documents.items()
            }
            frames = {device: (version, shared[digest]) for device, digest in plan.changed.items()}
        result = Recomputed(
            tenant_id=tenant_id,
            devices=0 if plan is None else plan.devices,
            changed=0 if plan is None else len(plan.changed),
            distinct_timelines=0 if plan is None else plan.distinct_timelines,
            version=version,
            plan_s=plan_s,
            total_s=time.perf_counter() - started,
            frames=frames,
        )
        log.debug(
            "manifests recomputed: tenant %s, %d devices, %d changed, version %s, %.1f ms",
            tenant_id,
            result.devices,
            result.changed,
            version,
            result.total_s * 1000,
        )
        return result

    def _notice(self, version: int, changed: Sequence[UUID]) -> ManifestsChanged:
        if len(changed) > self._policy.notice_max_ids:
            return ManifestsChanged(version=version, device_ids=None)
        return ManifestsChanged(version=version, device_ids=tuple(changed))

    async def frames(
        self, tenant_id: UUID, known: Mapping[UUID, int]
    ) -> dict[UUID, tuple[int, str]]:
        """The manifest frame (version, text) of each device of ``known`` whose stored
        version is above the one given (0: any); devices without a newer one are absent.

        :raises Unavailable: if PostgreSQL cannot be reached.
        """
        if not known:
            return {}
        async with self._uow.tenant(tenant_id) as tx:
            rows = await tx.manifests.newer(tenant_id, known)
        return _frames_of(rows)

    async def current(self, tenant_id: UUID) -> TenantFrames:
        """In one read: the frame of every approved device of the tenant that has a stored
        manifest, and the approved devices that have none yet.

        :raises Unavailable: if PostgreSQL cannot be reached.
        """
        async with self._uow.tenant(tenant_id) as tx:
            rows, unplanned = await tx.manifests.current(tenant_id)
        return TenantFrames(frames=_frames_of(rows), unplanned=tuple(unplanned))

    async def of_device(
        self, who: Principal, tenant_id: UUID, device_id: UUID
    ) -> DeviceManifestView:
        """The manifest ``device_id`` gets now (computed first if it has none yet).

        :raises NotFound: for an unknown device.
        :raises Conflict: for a revoked device (it gets no manifest).
        """
        authorize(who, Permission.DEVICE_READ, tenant_id)
        for attempt in range(2):
            async with self._uow.tenant(tenant_id) as tx:
                device = await tx.devices.get(tenant_id, device_id)
                if device is None:
                    raise NotFound("no such device")
                if device.status != "approved":
                    raise Conflict(f"the device is {device.status}: it gets no manifest")
                stored = await tx.manifests.get(tenant_id, device_id)
            if stored is not None:
                manifest = _manifest_decoder.decode(stored.document)
                return DeviceManifestView(
                    device_id=device_id,
                    version=stored.version,
                    hash=stored.hash,
                    computed_at=stored.computed_at,
                    acked_version=stored.acked_version,
                    acked_at=stored.acked_at,
                    starts_at=manifest.starts_at,
                    ends_at=manifest.ends_at,
                    slices=manifest.slices,
                    content=manifest.content,
                )
            if attempt == 0:
                await self.recompute(tenant_id, DeviceScope.devices(device_id))
        raise Conflict("the device's manifest could not be computed; retry shortly")

    async def claim_due(self, limit: int) -> list[UUID]:
        """Lease up to ``limit`` tenants whose manifests start before the current horizon
        (their time has moved on a step); the caller recomputes them.

        :raises Unavailable: if PostgreSQL cannot be reached.
        """
        before = self._policy.horizon.start(self._clock())
        async with self._uow.platform() as tx:
            return await tx.manifests.claim_due(
                before=before, lease_s=self._policy.lease_s, limit=limit
            )

    async def record_acks(self, acks: Sequence[tuple[UUID, UUID, int, datetime]]) -> int:
        """Store ``(tenant_id, device_id, version, at)`` acknowledgements (one statement).

        :raises Unavailable: if PostgreSQL cannot be reached.
        """
        if not acks:
            return 0
        async with self._uow.platform() as tx:
            return await tx.manifests.record_acks(acks)


async def plan_scope(
    tx: Tx,
    tenant_id: UUID,
    scope: DeviceScope,
    policy: ManifestPolicy,
    now: datetime,
    *,
    stored_hashes: bool,
) -> BatchPlan | None:
    """Plan the manifests of ``scope``'s approved devices from what ``tx`` sees (its own
    uncommitted writes included), in a worker thread; ``None`` if no device is in scope.
    With ``stored_hashes`` only devices whose document changes are in the plan's
    ``changed``; without, every device is."""
    devices = await tx.manifests.planning_devices(tenant_id, scope)
    if not devices:
        return None
    entries, playlists, contents = await planning_inputs(tx, tenant_id)
    stored: Mapping[UUID, str] = {}
    if stored_hashes:
        stored = await tx.manifests.hashes(tenant_id, [device.id for device in devices])
    return await anyio.to_thread.run_sync(
        functools.partial(
            plan_batch,
            devices,
            entries,
            playlists,
            contents,
            stored,
            now=now,
            horizon=policy.horizon,
            tenant_id=tenant_id,
            media_base_url=policy.media_base_url,
        )
    )


async def planning_inputs(
    tx: Tx, tenant_id: UUID
) -> tuple[list[ScheduleEntry], dict[UUID, Playlist], dict[UUID, ContentSnapshot]]:
    """What every plan of the tenant's devices reads (the explanation reads the same):
    its schedule entries, the playlists they play and those playlists' content."""
    entries = await tx.schedules.entries(tenant_id)
    playlists = await tx.playlists.for_planning(tenant_id, {entry.playlist_id for entry in entries})
    contents = await tx.content.snapshots(
        tenant_id,
        {item.content_id for playlist in playlists.values() for item in playlist.items},
    )
    return entries, playlists, contents


def oversized(plan: BatchPlan, max_bytes: int) -> dict[str, int]:
    """The planned documents over ``max_bytes`` (hash → encoded size)."""
    sizes = {h: len(doc.document.encode()) for h, doc in plan.documents.items()}
    return {h: size for h, size in sizes.items() if size > max_bytes}


def _within_limit(tenant_id: UUID, plan: BatchPlan, max_bytes: int) -> BatchPlan:
    """``plan`` without the devices whose new document is over the limit: they keep the
    one they have. Writes that would cause this are refused (:class:`ManifestSizeGuard`);
    what is left is time moving a bigger mix into the horizon, which must not make every
    node build and push a document of unbounded size."""
    too_big = oversized(plan, max_bytes)
    if not too_big:
        return plan
    kept = {device: h for device, h in plan.changed.items() if h not in too_big}
    log.warning(
        "tenant %s: %d devices keep their manifest: the new one is %d bytes, over "
        "MANIFEST_MAX_BYTES (%d)",
        tenant_id,
        len(plan.changed) - len(kept),
        max(too_big.values()),
        max_bytes,
    )
    return msgspec.structs.replace(
        plan,
        changed=kept,
        documents={h: doc for h, doc in plan.documents.items() if h not in too_big},
    )


class ManifestSizeGuard:
    """Refuses, inside the transaction of the write that would cause it, a change that
    would give some device a manifest over ``MANIFEST_MAX_BYTES``: the write's use case
    calls :meth:`check` with the devices the change reaches, after writing and before
    committing. It plans those devices as the recomputation after commit will (one plan
    per distinct timeline, in a worker thread)."""

    def __init__(self, policy: ManifestPolicy, clock: Clock = lambda: datetime.now(UTC)) -> None:
        self._policy = policy
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings) -> ManifestSizeGuard:
        return cls(ManifestPolicy.from_settings(settings))

    async def check(self, tx: Tx, tenant_id: UUID, scope: DeviceScope) -> None:
        """:raises Conflict: (409) naming the size and the limit, if a manifest of
        ``scope``'s devices would exceed it."""
        if scope.empty:
            return
        plan = await plan_scope(
            tx, tenant_id, scope, self._policy, self._clock(), stored_hashes=False
        )
        if plan is None:
            return
        too_big = oversized(plan, self._policy.max_bytes)
        if too_big:
            devices = sum(1 for h in plan.changed.values() if h in too_big)
            raise Conflict(
                f"this change would give {devices} device(s) a manifest of "
                f"{max(too_big.values())} bytes, over the limit of {self._policy.max_bytes}"
                " bytes (MANIFEST_MAX_BYTES): play less text or fewer items at once"
            )
