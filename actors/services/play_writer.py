"""Screens' proof-of-play reports, written to PostgreSQL in batches.

Device actors hand each ``played`` frame's items to :class:`BatchedPlays` (a list append,
no I/O on the session's path); items outside the acceptance window
(:func:`actors.domain.plays.acceptable`) are dropped there and counted. Every
``flush_every_s`` (5 s) the service writes what it holds, ``batch_size`` plays a
statement group, rolled up per hour in the store (one row per screen, item and hour).

The buffer is bounded (``max_pending`` plays). While PostgreSQL is unreachable a failed
batch is kept and retried at the next flush; past the bound new plays are dropped and
counted (``signage_plays_dropped_total``). A repeat (a frame sent again after a
reconnect) costs nothing: the store counts only plays newer than the screen's mark.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import anyio
import anyio.abc

from actors.domain.plays import PlayRecord, acceptable
from actors.metrics import MetricsRegistry
from actors.ports.uow import UnitOfWork
from actors.protocol import PlayedItem
from actors.settings import LifecycleSettings

log = logging.getLogger("actors.plays")

#: Plays written per transaction.
BATCH_SIZE = 20_000
#: Plays held at most while they cannot be written (~100 bytes each).
MAX_PENDING = 500_000


class BatchedPlays:
    """Implements :class:`~actors.ports.plays.PlaySink`; a runtime service."""

    def __init__(
        self,
        uow: UnitOfWork,
        metrics: MetricsRegistry,
        *,
        flush_every_s: float = 5.0,
        batch_size: int = BATCH_SIZE,
        max_pending: int = MAX_PENDING,
        final_flush_s: float | None = None,
    ) -> None:
        if flush_every_s <= 0 or not 1 <= batch_size <= max_pending:
            raise ValueError("need flush_every_s > 0 and 1 <= batch_size <= max_pending")
        self._uow = uow
        self._final_flush_s = (
            LifecycleSettings().flush_timeout_s if final_flush_s is None else final_flush_s
        )
        self._flush_every_s = flush_every_s
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._pending: list[PlayRecord] = []
        self._stop = anyio.Event()
        self._received = metrics.counter(
            "signage_plays_received_total", "Played items screens reported (before checks)."
        )
        self._dropped = metrics.counter(
            "signage_plays_dropped_total",
            "Played items not kept: outside the time window, or the buffer was full.",
            labels=("reason",),
        )
        self._counted = metrics.counter(
            "signage_plays_counted_total", "Plays counted in PostgreSQL (repeats excluded)."
        )
        self._failures = metrics.counter(
            "signage_play_flush_failures_total", "Batches of plays that could not be written."
        )

    # -- the sink (device actors) ------------------------------------------------------------

    def played(
        self, tenant_id: UUID, device_id: UUID, items: Sequence[PlayedItem], at: datetime
    ) -> int:
        self._received.inc(len(items))
        kept = 0
        for item in items:
            if not acceptable(item.started_at, at):
                self._dropped.inc(reason="window")
                continue
            if len(self._pending) >= self._max_pending:
                self._dropped.inc(len(items) - kept, reason="full")
                break
            self._pending.append(
                PlayRecord(
                    tenant_id=tenant_id,
                    device_id=device_id,
                    content_id=item.content_id,
                    started_at=item.started_at,
                    duration_ms=item.duration_ms,
                )
            )
            kept += 1
        return kept

    def pending(self) -> int:
        return len(self._pending)

    # -- the service ------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        try:
            while not self._stop.is_set():
                with anyio.move_on_after(self._flush_every_s):
                    await self._stop.wait()
                await self.flush()
        finally:
            # The device actors have stopped (services stop after actors): write the rest.
            with anyio.CancelScope(shield=True), anyio.move_on_after(self._final_flush_s):
                await self.flush()

    async def flush(self) -> int:
        """Write every pending play, one transaction per tenant and batch (row-level
        security scopes each to its tenant: content and screens of others are not even
        visible); returns the plays counted. Never raises: a tenant's batch that fails
        goes back to the front of the buffer."""
        counted = 0
        while self._pending:
            batch = self._pending[: self._batch_size]
            del self._pending[: self._batch_size]
            by_tenant: dict[UUID, list[PlayRecord]] = {}
            for play in batch:
                by_tenant.setdefault(play.tenant_id, []).append(play)
            failed: list[PlayRecord] = []
            for tenant_id, plays in by_tenant.items():
                try:
                    async with self._uow.tenant(tenant_id) as tx:
                        counted += await tx.plays.record(plays)
                except Exception as exc:  # PostgreSQL down: keep them for the next flush
                    self._failures.inc()
                    log.warning("could not store %d plays: %s", len(plays), exc)
                    failed.extend(plays)
            if failed:
                room = self._max_pending - len(self._pending)
                if room < len(failed):
                    self._dropped.inc(len(failed) - room, reason="full")
                self._pending[:0] = failed[: max(0, room)]
                break
        self._counted.inc(counted)
        return counted
