"""The node's manifest feed: recomputes manifests off the request path and hands the new
versions to the sessions this node holds.

One runtime service per node. Work arrives per tenant, from three sides, and never waits:

- :meth:`ManifestFeed.refresh` — a use case committed a change (content approved or
  archived, a playlist or schedule edited, a device regrouped): recompute the manifests
  of the devices it may affect, and hand the frames just computed straight to this node's
  sessions of the changed devices (found in the node's session index, presence) — one
  visit, nothing read back;
- :meth:`ManifestFeed.deliver` — a tenant actor learnt that another node stored newer
  manifests (:class:`~actors.events.ManifestsChanged` over the relay, a relay gap, a new
  session): read them and push them to these sessions' outboxes;
- :meth:`ManifestFeed.fetch` — a device actor opens a session and needs its manifest
  (computed first when the device has none yet).

Openings are answered without a job from a per-tenant cache of the frames this feed last
computed, read or was handed, when it holds the device's and no change of the tenant is
waiting to be recomputed (an opening then waits for it, as before): a reconnect storm
after a network blip waits on nothing. A cached frame may be older than the stored one
(another node's notice lost with a relay gap): that is safe because registering a
session with its tenant actor always asks for a delivery (:meth:`ManifestFeed.deliver`),
which reads anything newer than what the session's outbox then holds. Frames this node
computes enter the cache in the same step as they are handed to live sessions, so an
opening either is one of those sessions or reads the cache after; another node's notice
drops the devices it names (:meth:`ManifestFeed.forget`), a reconciliation the tenant's.

Requests for one tenant merge into one pending job (scopes united, one delivery per
device, every waiting opening answered by the same read), so the pending state is bounded
by the tenants and sessions of this node, never by the rate of changes. ``workers`` tasks
take tenants with pending work; a tenant is handled by one worker at a time, in order:
recompute, then read every needed frame in one query, then answer and deliver. A session
never receives a version older than one it was given (the outbox refuses it).

A ticker advances the horizon: every ``tick_s`` it leases the tenants whose manifests
were planned from an earlier step (the lease spreads tenants over the nodes) and
refreshes them whole. A job that fails (PostgreSQL away, a lock timeout) is logged and its
recomputation and deliveries are tried again at the next tick (the openings it held start
without a manifest, which a delivery brings them later): a change committed before the
failure is never left to the next horizon step. Manifest acknowledgements from screens
are buffered here and written in one statement per ``ack_flush_s``.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from uuid import UUID

import anyio
import anyio.abc

from actors.domain.manifest_batch import DeviceScope
from actors.metrics import MetricsRegistry
from actors.node.messages import Flush
from actors.node.presence import SessionOwner
from actors.ports.manifests import ManifestSource
from actors.runtime import ActorStopped
from actors.settings import ManifestSettings

log = logging.getLogger(__name__)

_FLUSH = Flush()


class ManifestDelivery(Protocol):
    """What a tenant actor asks of the feed (:meth:`ManifestFeed.deliver`,
    :meth:`ManifestFeed.forget`)."""

    def deliver(self, tenant_id: UUID, targets: Iterable[tuple[UUID, ManifestTarget]]) -> None: ...

    def forget(self, tenant_id: UUID, device_ids: Iterable[UUID] | None) -> None: ...


#: A live session as the feed needs it: its actor (to wake) and its outbox.
ManifestTarget = SessionOwner


class SessionIndex(Protocol):
    """This node's sessions by device (:class:`~actors.node.presence.LocalPresence`)."""

    def sessions(
        self, tenant_id: UUID, device_ids: Iterable[UUID]
    ) -> list[tuple[UUID, ManifestTarget]]: ...


class _NoSessions:
    def sessions(
        self, tenant_id: UUID, device_ids: Iterable[UUID]
    ) -> list[tuple[UUID, ManifestTarget]]:
        return []


class _Waiter:
    __slots__ = ("answer", "done")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.answer: tuple[int, str] | None = None


@dataclass(slots=True)
class _Job:
    scope: DeviceScope | None = None
    deliveries: dict[UUID, ManifestTarget] = field(default_factory=dict)
    fetches: dict[UUID, list[_Waiter]] = field(default_factory=dict)


class ManifestFeed:
    """A runtime service; implements :class:`~actors.ports.manifests.ManifestRefresh` and
    the tenant actors' :class:`ManifestDelivery` (see the module docstring)."""

    def __init__(
        self,
        source: ManifestSource,
        *,
        sessions: SessionIndex | None = None,
        config: ManifestSettings | None = None,
        metrics: MetricsRegistry | None = None,
    ) -> None:
        self._source = source
        self._sessions: SessionIndex = sessions if sessions is not None else _NoSessions()
        self._config = config or ManifestSettings()
        self._jobs: dict[UUID, _Job] = {}
        #: What failed jobs were to recompute and deliver, tried again at the next tick.
        self._failed: dict[UUID, _Job] = {}
        self._ready: deque[UUID] = deque()
        self._busy: set[UUID] = set()
        #: Tenants whose running job recomputes a change (a refresh's scope).
        self._recomputing: set[UUID] = set()
        self._more = anyio.Event()
        self._idle = anyio.Event()
        self._idle.set()
        self._stop = anyio.Event()
        self._running = False
        self._acks: deque[tuple[UUID, UUID, int, datetime]] = deque(maxlen=self._config.ack_buffer)
        #: The opening cache: tenant -> device -> the newest (version, frame) seen here.
        self._cache: dict[UUID, dict[UUID, tuple[int, str]]] = {}
        self._cached = 0
        registry = metrics or MetricsRegistry()
        self._recomputes = registry.counter(
            "signage_manifest_recomputations_total", "Manifest recomputations run on this node."
        )
        self._pushed = registry.counter(
            "signage_manifest_frames_pushed_total", "Manifest frames queued for live sessions."
        )
        self._failures = registry.counter(
            "signage_manifest_feed_failures_total", "Manifest feed jobs that failed."
        )
        self._seconds = registry.histogram(
            "signage_manifest_job_seconds", "Time one tenant's manifest job took."
        )
        self._hits = registry.counter(
            "signage_manifest_opening_cache_hits_total",
            "Session openings answered from the feed's cache of frames, without a job.",
        )

    # -- requests (never block) ------------------------------------------------------------

    def refresh(self, tenant_id: UUID, scope: DeviceScope) -> None:
        if scope.empty:
            return
        job = self._job(tenant_id)
        job.scope = (
            scope if job.scope is None else job.scope.merge(scope, max_named=self._config.max_named)
        )
        self._schedule(tenant_id)

    def deliver(self, tenant_id: UUID, targets: Iterable[tuple[UUID, ManifestTarget]]) -> None:
        """Push newer manifests, if any, to these sessions (their outboxes say what they
        have)."""
        sessions = dict(targets)
        if not sessions:
            return
        self._job(tenant_id).deliveries.update(sessions)
        self._schedule(tenant_id)

    async def fetch(self, tenant_id: UUID, device_id: UUID) -> tuple[int, str] | None:
        """The device's current manifest frame ``(version, text)``, computed first if it
        has none; ``None`` if it could not be had within ``opening_timeout_s`` (the
        session then starts without it, and the manifest follows by :meth:`deliver`)."""
        if not self._running:
            return None
        cached = self._cache.get(tenant_id)
        found = None if cached is None else cached.get(device_id)
        if found is not None and not self._changing(tenant_id):
            self._hits.inc()
            return found
        waiter = _Waiter()
        self._job(tenant_id).fetches.setdefault(device_id, []).append(waiter)
        self._schedule(tenant_id)
        with anyio.move_on_after(self._config.opening_timeout_s):
            await waiter.done.wait()
        return waiter.answer

    def push(self, tenant_id: UUID, frames: Mapping[UUID, tuple[int, str]]) -> int:
        """Queue just-computed frames ``{device: (version, frame)}`` in this node's
        sessions of those devices (the session index says which) and wake them; a session
        never goes back to an older version. Returns how many sessions were handed one.
        The frames enter the tenant's opening cache in the same step, if it has one (see
        :meth:`_warm`)."""
        self._remember(tenant_id, frames, start=False)
        return self._hand_over(self._sessions.sessions(tenant_id, frames), frames)

    def forget(self, tenant_id: UUID, device_ids: Iterable[UUID] | None) -> None:
        """Drop these devices' cached frames (``None``: the tenant's): another node stored
        newer ones, or may have (a reconciliation after a relay gap)."""
        cached = self._cache.get(tenant_id)
        if cached is None:
            return
        if device_ids is None:
            del self._cache[tenant_id]
            self._cached -= len(cached)
            return
        for device_id in device_ids:
            if cached.pop(device_id, None) is not None:
                self._cached -= 1

    def _changing(self, tenant_id: UUID) -> bool:
        """Whether a change of the tenant is pending or being recomputed."""
        job = self._jobs.get(tenant_id)
        return tenant_id in self._recomputing or (job is not None and job.scope is not None)

    def _remember(
        self, tenant_id: UUID, frames: Mapping[UUID, tuple[int, str]], *, start: bool = True
    ) -> None:
        """Keep the newest frame of each device for openings (bounded, see
        :attr:`ManifestSettings.cached_frames`); ``start=False``: only in a tenant's existing
        cache."""
        cached = self._cache.get(tenant_id)
        if not frames or (cached is None and not start):
            return
        added = len(frames) if cached is None else sum(1 for d in frames if d not in cached)
        if self._cached + added > self._config.cached_frames:
            self._cache.clear()
            self._cached = 0
            if not start:
                return
            cached = None
        if cached is None:
            cached = self._cache[tenant_id] = {}
        for device_id, found in frames.items():
            have = cached.get(device_id)
            if have is None:
                self._cached += 1
            elif have[0] >= found[0]:
                continue
            cached[device_id] = found

    def _hand_over(
        self,
        targets: Iterable[tuple[UUID, ManifestTarget]],
        frames: Mapping[UUID, tuple[int, str]],
    ) -> int:
        """Queue each target's frame, if there is one newer than what its outbox holds,
        and wake its actor; how many were handed one."""
        pushed = 0
        for device_id, target in targets:
            found = frames.get(device_id)
            if found is None or not target.outbox.put_manifest(found[1], found[0]):
                continue
            with contextlib.suppress(ActorStopped):  # the session just ended
                target.ref.tell(_FLUSH)
                pushed += 1
        self._pushed.inc(pushed)
        return pushed

    def manifest_acked(self, tenant_id: UUID, device_id: UUID, version: int, at: datetime) -> None:
        self._acks.append((tenant_id, device_id, version, at))

    async def settled(self) -> None:
        """Wait until no job is pending or running (for tests and benchmarks)."""
        while self._jobs or self._busy:
            await self._idle.wait()

    def _job(self, tenant_id: UUID) -> _Job:
        job = self._jobs.get(tenant_id)
        if job is None:
            job = self._jobs[tenant_id] = _Job()
        return job

    def _schedule(self, tenant_id: UUID) -> None:
        if self._idle.is_set():
            self._idle = anyio.Event()
        if tenant_id not in self._busy and tenant_id not in self._ready:
            self._ready.append(tenant_id)
            self._more.set()

    # -- the service -----------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        self._running = True
        try:
            async with anyio.create_task_group() as tasks:
                for number in range(self._config.workers):
                    tasks.start_soon(self._worker, name=f"manifest worker {number}")
                tasks.start_soon(self._ticker, name="manifest horizon")
                task_status.started()
                await self._stop.wait()
                tasks.cancel_scope.cancel()
        finally:
            self._running = False
            for job in self._jobs.values():
                _answer(job, {})
            with anyio.CancelScope(shield=True), anyio.move_on_after(self._config.final_flush_s):
                await self._flush_acks()

    async def _worker(self) -> None:
        while True:
            while not self._ready:
                if self._more.is_set():  # consumed by another worker: wait for the next
                    self._more = anyio.Event()
                await self._more.wait()
            tenant_id = self._ready.popleft()
            job = self._jobs.pop(tenant_id)
            self._busy.add(tenant_id)
            if job.scope is not None:
                self._recomputing.add(tenant_id)
            started = anyio.current_time()
            try:
                await self._run(tenant_id, job)
            except Exception:
                self._failures.inc()
                log.exception(
                    "manifest job for tenant %s failed (retried at the next tick)", tenant_id
                )
                self._keep_for_retry(tenant_id, job)
            finally:
                _answer(job, {})  # waiters not answered by the job get None
                self._busy.discard(tenant_id)
                self._recomputing.discard(tenant_id)
                self._seconds.observe(anyio.current_time() - started)
                if tenant_id in self._jobs:
                    self._ready.append(tenant_id)
                elif not self._jobs and not self._busy:
                    self._idle.set()

    def _keep_for_retry(self, tenant_id: UUID, job: _Job) -> None:
        """Keep a failed job's scope and deliveries (merged with an earlier failure's) for
        the next tick; bounded like the pending jobs, by tenants and sessions."""
        kept = self._failed.setdefault(tenant_id, _Job())
        if job.scope is not None:
            kept.scope = (
                job.scope
                if kept.scope is None
                else kept.scope.merge(job.scope, max_named=self._config.max_named)
            )
        kept.deliveries.update(job.deliveries)

    def _retry_failed(self) -> None:
        """Queue again what failed jobs were to do (the ticker's, at every tick)."""
        failed, self._failed = self._failed, {}
        for tenant_id, job in failed.items():
            if job.scope is not None:
                self.refresh(tenant_id, job.scope)
            self.deliver(tenant_id, job.deliveries.items())

    async def _run(self, tenant_id: UUID, job: _Job) -> None:
        frames: dict[UUID, tuple[int, str]] = {}
        if job.scope is not None:
            self._recomputes.inc()
            fresh = (await self._source.recompute(tenant_id, job.scope)).frames
            if fresh:
                frames.update(fresh)
                self.push(tenant_id, fresh)
        if not job.fetches and not job.deliveries:
            return
        cached = self._cache.get(tenant_id)
        if job.fetches and cached is None:
            await self._warm(tenant_id, frames)
        elif cached is not None:
            # Openings that came while the tenant was busy (its warm-up, say): the cache
            # answers them now that nothing of it is waiting to be recomputed.
            for device_id in job.fetches:
                found = cached.get(device_id)
                if found is not None:
                    frames.setdefault(device_id, found)
        # Anything not just computed is read: sessions another node's change concerns,
        # openings of devices this recomputation did not touch.
        known = {
            device_id: target.outbox.manifest_version
            for device_id, target in job.deliveries.items()
            if device_id not in frames
        }
        known.update((device_id, 0) for device_id in job.fetches if device_id not in frames)
        if known:
            frames.update(await self._source.frames(tenant_id, known))
        missing = [device_id for device_id in job.fetches if device_id not in frames]
        if missing:
            # First session of a new device: its manifest is computed now, for it alone.
            # The frames just stored come back with the recomputation; only a device it
            # did not change (another node stored it meanwhile) is read.
            self._recomputes.inc()
            computed = (
                await self._source.recompute(tenant_id, DeviceScope.devices(*missing))
            ).frames
            frames.update((d, computed[d]) for d in missing if d in computed)
            unread = [device_id for device_id in missing if device_id not in computed]
            if unread:
                frames.update(await self._source.frames(tenant_id, dict.fromkeys(unread, 0)))
        self._remember(tenant_id, frames, start=False)
        _answer(job, frames)
        self._hand_over(job.deliveries.items(), frames)

    async def _warm(self, tenant_id: UUID, frames: dict[UUID, tuple[int, str]]) -> None:
        """A tenant's first openings since this node started (or since its cache was
        dropped), as in the storm after a restart: every frame it has stored is read at
        once, and every approved device without one is computed at once, into ``frames``
        (frames just computed there win) and the cache, instead of a read and a
        computation for each batch of openings. Only this starts a tenant's cache (so a
        tenant's actor is alive here: it hears other nodes' notices); frames computed,
        read or delivered later keep it current."""
        stored = await self._source.current(tenant_id)
        for device_id, found in stored.frames.items():
            frames.setdefault(device_id, found)
        unplanned = [device_id for device_id in stored.unplanned if device_id not in frames]
        if unplanned:
            self._recomputes.inc()
            computed = await self._source.recompute(tenant_id, DeviceScope.devices(*unplanned))
            frames.update(computed.frames)
        self._remember(tenant_id, frames)
        self._cache.setdefault(tenant_id, {})

    async def _ticker(self) -> None:
        flushed = anyio.current_time()
        due_every = self._config.tick_s
        next_due = anyio.current_time()  # catch up at start: the node may have been down
        while True:
            now = anyio.current_time()
            if now >= next_due:
                next_due = now + due_every
                self._retry_failed()
                try:
                    for tenant_id in await self._source.claim_due(self._config.due_batch):
                        self.refresh(tenant_id, DeviceScope.all())
                except Exception as exc:  # PostgreSQL away: retried at the next tick
                    log.warning("manifest horizon scan failed: %s", exc)
            if now - flushed >= self._config.ack_flush_s:
                flushed = now
                await self._flush_acks()
            with anyio.move_on_after(min(self._config.ack_flush_s, next_due - now)):
                await self._stop.wait()

    async def _flush_acks(self) -> None:
        if not self._acks:
            return
        batch = list(self._acks)
        self._acks.clear()
        try:
            await self._source.record_acks(batch)
        except Exception as exc:  # informational: lost acks are re-sent by nobody, logged
            log.warning("manifest acknowledgements not stored (%d): %s", len(batch), exc)


def _answer(job: _Job, frames: Mapping[UUID, tuple[int, str]]) -> None:
    for device_id, waiters in job.fetches.items():
        for waiter in waiters:
            if not waiter.done.is_set():
                waiter.answer = frames.get(device_id)
                waiter.done.set()
