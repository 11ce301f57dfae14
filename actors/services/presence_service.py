"""The presence service: carries this node's :class:`LocalPresence` to where others see it.

Every ``announce_every_s`` (0.25 s) it announces the sessions opened since, and forgets
the ones ended since, in one batch each: other nodes see a screen come and go within
0.5 s. Each live session is announced again ``interval_s`` (5 s) after its last
announcement, in the same batch as whatever else is due at that tick, so the shared
presence (Redis, with TTLs, so a dead node's screens fall offline by themselves) costs a
steady ``sessions / interval_s`` writes a second, spread over the ticks: 10,000 screens
reconnecting at once are not all written again, together, every interval while they do.
Every ``node_heartbeat_s`` it upserts this node's row (for ``/api/v1/ops/nodes``); every
``last_seen_flush_s`` it writes ``last_seen_at`` of the sessions seen since, in one
statement. (Reconciling sessions with PostgreSQL is the reconciler's:
:mod:`actors.services.reconciler`.)
Each step's failure is logged and retried at the next tick: none may stop the others.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from uuid import UUID

import anyio
import anyio.abc

from actors.domain.devices import Presence
from actors.node.presence import LocalPresence
from actors.ports.sessions import SharedPresence
from actors.ports.uow import UnitOfWork
from actors.settings import LifecycleSettings, PresenceSettings

log = logging.getLogger(__name__)


class NodePresence:
    """Implements :class:`actors.ports.devices.PresenceReader`: the shared view, refreshed by what
    this node knows first-hand."""

    def __init__(self, local: LocalPresence, shared: SharedPresence | None) -> None:
        self._local = local
        self._shared = shared

    async def lookup(self, tenant_id: UUID, device_ids: Sequence[UUID]) -> dict[UUID, Presence]:
        found = {} if self._shared is None else await self._shared.lookup(tenant_id, device_ids)
        found.update(self._local.lookup(tenant_id, device_ids))
        return found


class PresenceService:
    """A runtime service (see the module docstring)."""

    def __init__(
        self,
        local: LocalPresence,
        shared: SharedPresence | None,
        uow: UnitOfWork,
        *,
        started_at: datetime,
        config: PresenceSettings | None = None,
        final_flush_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._local = local
        self._shared = shared
        self._uow = uow
        self._started_at = started_at
        self._config = config or PresenceSettings()
        self._final_flush_s = (
            LifecycleSettings().flush_timeout_s if final_flush_s is None else final_flush_s
        )
        self._clock = clock
        self._stop = anyio.Event()
        self._due: dict[str, float] = {}
        #: When each announced session is due again, and the same in order of time (an
        #: entry whose time no longer matches ``_refresh_at`` is stale: skipped). Both are
        #: bounded by the sessions announced within one ``interval_s``.
        self._refresh_at: dict[UUID, float] = {}
        self._refresh_queue: deque[tuple[float, UUID]] = deque()

    def stop(self) -> None:
        self._stop.set()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        try:
            while not self._stop.is_set():
                await self.tick()
                with anyio.move_on_after(self._config.announce_every_s):
                    await self._stop.wait()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(self._final_flush_s):
                await self._final()

    async def tick(self) -> None:
        """One round of every step that is due (public for tests)."""
        config = self._config
        node = self._local.node_id
        if self._shared is not None:
            gone = self._local.take_departed()
            if gone:
                await self._shared.forget(node, gone)
            announce = self._local.take_fresh()
            announce += self._local.entries(self._due_for_refresh())
            if announce:
                self._schedule(announce)
                await self._shared.publish(node, announce, config.ttl_s)
        if self._due_now("heartbeat", config.node_heartbeat_s):
            await self._guard("node heartbeat", self._heartbeat())
        if self._due_now("last_seen", config.last_seen_flush_s):
            await self._guard("last_seen flush", self._flush_last_seen())

    def _due_for_refresh(self) -> list[UUID]:
        """The announced sessions whose next announcement is due (taken off the queue)."""
        now, queue, refresh_at = self._clock(), self._refresh_queue, self._refresh_at
        due: list[UUID] = []
        while queue and queue[0][0] <= now:
            at, device_id = queue.popleft()
            if refresh_at.get(device_id) == at:
                del refresh_at[device_id]
                due.append(device_id)
        return due

    def _schedule(self, announced: Sequence[tuple[UUID, UUID, datetime]]) -> None:
        at = self._clock() + self._config.interval_s
        for _tenant, device_id, _seen in announced:
            if self._refresh_at.get(device_id) != at:
                self._refresh_at[device_id] = at
                self._refresh_queue.append((at, device_id))

    def _due_now(self, step: str, every_s: float) -> bool:
        now = self._clock()
        due = self._due.get(step)
        if due is None:
            self._due[step] = now + every_s
            return True
        if now < due:
            return False
        self._due[step] = now + every_s
        return True

    async def _guard(self, what: str, step: Awaitable[None]) -> None:
        try:
            await step
        except Exception as exc:  # a database hiccup: retried at the next tick
            log.warning("presence: %s failed: %s", what, exc)

    async def _heartbeat(self) -> None:
        async with self._uow.platform() as tx:
            await tx.nodes.heartbeat(self._local.node_id, self._started_at, len(self._local))

    async def _flush_last_seen(self) -> None:
        batch = self._local.take_seen()
        if batch:
            async with self._uow.platform() as tx:
                await tx.devices.record_last_seen(batch)

    async def _final(self) -> None:
        await self._guard("last_seen flush", self._flush_last_seen())
        if self._shared is not None:
            await self._shared.forget(self._local.node_id, self._local.take_departed())

        async def stopped() -> None:
            async with self._uow.platform() as tx:
                await tx.nodes.stopped(self._local.node_id)

        await self._guard("node stop", stopped())
