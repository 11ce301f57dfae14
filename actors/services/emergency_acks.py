"""Acknowledgements from screens, written to PostgreSQL in batches.

Device actors hand every acknowledgement to :class:`BatchedAcks` (a plain dict write, no
I/O on the session's path). Every ``flush_every_s`` — or as soon as ``batch_size`` are
waiting — the service writes what it holds in one statement per batch, never one
transaction per ack: 10,000 screens acknowledging an evacuation cost a couple of
statements, not 10,000 commits.

The buffer is bounded (``max_pending``, drop-newest): while PostgreSQL is unreachable the
acks it holds are retried at every flush, and past the bound new ones are dropped and
counted. A dropped ack only makes the delivery report show that screen as pending: the
emergency itself was delivered.

Manifest acknowledgements are only counted here.
"""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import UUID

import anyio
import anyio.abc

from actors.domain.emergencies import EmergencyAck
from actors.metrics import MetricsRegistry
from actors.ports.uow import UnitOfWork
from actors.settings import LifecycleSettings

log = logging.getLogger("actors.emergencies")

#: Acks written per statement.
BATCH_SIZE = 5_000
#: Acks held at most while they cannot be written (~200 bytes each).
MAX_PENDING = 100_000
#: Trigger-to-ack buckets (seconds) around the 2 s objective; minutes for late screens.
ACK_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0)


class BatchedAcks:
    """Implements :class:`~actors.ports.sessions.AckSink`; a runtime service."""

    def __init__(
        self,
        uow: UnitOfWork,
        metrics: MetricsRegistry,
        *,
        node_id: str,
        flush_every_s: float = 0.5,
        batch_size: int = BATCH_SIZE,
        max_pending: int = MAX_PENDING,
        final_flush_s: float | None = None,
    ) -> None:
        if flush_every_s <= 0 or batch_size < 1 or max_pending < batch_size:
            raise ValueError("need flush_every_s > 0 and 1 <= batch_size <= max_pending")
        self._uow = uow
        self._final_flush_s = (
            LifecycleSettings().flush_timeout_s if final_flush_s is None else final_flush_s
        )
        self._node_id = node_id
        self._flush_every_s = flush_every_s
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._pending: dict[tuple[UUID, UUID], EmergencyAck] = {}
        self._wake = anyio.Event()
        self._stopping = False
        self._acks = metrics.counter(
            "signage_device_acks_total", "Acknowledgements received from devices.", labels=("kind",)
        )
        # Bound once: one ack per screen per emergency or manifest, no label lookup each.
        self._emergency_acks = self._acks.labels(kind="emergency")
        self._manifest_acks = self._acks.labels(kind="manifest")
        self._written = metrics.counter(
            "signage_emergency_acks_written_total",
            "Emergency acknowledgements stored (first per device and emergency).",
        )
        self._dropped = metrics.counter(
            "signage_emergency_acks_dropped_total",
            "Emergency acknowledgements dropped: the buffer was full (PostgreSQL down).",
        )
        self._failures = metrics.counter(
            "signage_emergency_ack_flush_failures_total",
            "Ack batches that could not be written (kept and retried).",
        )
        self._latency = metrics.histogram(
            "signage_emergency_ack_latency_seconds",
            "From an emergency's start (PostgreSQL's clock) to each screen's first ack (the "
            "receiving node's clock); screens that were offline land in the top buckets.",
            ACK_LATENCY_BUCKETS,
        )
        metrics.callback(
            "signage_emergency_acks_pending",
            "Emergency acknowledgements waiting to be written.",
            lambda: [((), float(len(self._pending)))],
            kind="gauge",
        )

    # -- the sink (device actors) ------------------------------------------------------------

    def emergency_acked(
        self, tenant_id: UUID, device_id: UUID, emergency_id: UUID, at: datetime
    ) -> None:
        self._emergency_acks.inc()
        key = (emergency_id, device_id)
        if key in self._pending:
            return  # the first one counts
        if len(self._pending) >= self._max_pending:
            self._dropped.inc()
            return
        self._pending[key] = EmergencyAck(tenant_id, device_id, emergency_id, at, self._node_id)
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    def manifest_acked(self, tenant_id: UUID, device_id: UUID, version: int, at: datetime) -> None:
        self._manifest_acks.inc()

    def __len__(self) -> int:
        return len(self._pending)

    # -- the service ------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        try:
            while not self._stopping:
                with anyio.move_on_after(self._flush_every_s):
                    await self._wake.wait()
                self._wake = anyio.Event()
                await self.flush()
        finally:
            # The device actors have stopped (services stop after actors): write the rest.
            with anyio.CancelScope(shield=True), anyio.move_on_after(self._final_flush_s):
                await self.flush()

    async def flush(self) -> int:
        """Write every pending ack, a batch per statement; returns how many were new.
        Never raises: a batch that fails stays pending for the next flush."""
        written = 0
        while self._pending:
            batch = self._take(self._batch_size)
            try:
                async with self._uow.platform() as tx:
                    latencies = await tx.emergencies.record_acks(batch)
            except Exception as exc:  # PostgreSQL down: keep them for the next flush
                self._failures.inc()
                log.warning("could not store %d emergency acks: %s", len(batch), exc)
                self._restore(batch)
                break
            written += len(latencies)
            for seconds in latencies:
                self._latency.observe(seconds)
        self._written.inc(written)
        return written

    def _take(self, count: int) -> list[EmergencyAck]:
        batch: list[EmergencyAck] = []
        for key in list(self._pending)[:count]:
            batch.append(self._pending.pop(key))
        return batch

    def _restore(self, batch: list[EmergencyAck]) -> None:
        for ack in batch:
            key = (ack.emergency_id, ack.device_id)
            if key not in self._pending and len(self._pending) < self._max_pending:
                self._pending[key] = ack
