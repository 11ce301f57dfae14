"""Screens' status reports and command answers, written to PostgreSQL in batches.

Device actors hand each heartbeat that carries status, and each ``command_result``, to
:class:`BatchedFleetReports` (a plain dict write, no I/O on the session's path). The
service writes what it holds in one statement per batch: statuses every
``status_every_s`` (10 s; only the newest per screen is kept meanwhile, so 10,000 screens
heartbeating every 15 s cost one statement per interval), command answers every
``answers_every_s`` (0.5 s: an operator is waiting for them).

Both buffers are bounded (``max_pending`` screens, ``max_pending`` answers). While
PostgreSQL is unreachable what they hold is retried at every flush (a newer status
replacing an older one); past the bound new entries are dropped and counted. A dropped
status is replaced by the screen's next heartbeat; a dropped answer leaves its command
``sent`` until it expires.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

import anyio
import anyio.abc

from actors.domain.fleet import CommandAnswer, DeviceHealth, StatusReport
from actors.metrics import MetricsRegistry
from actors.ports.uow import UnitOfWork
from actors.protocol import CommandResultFrame, Heartbeat
from actors.settings import LifecycleSettings

log = logging.getLogger("actors.fleet")

#: Rows written per statement.
BATCH_SIZE = 5_000
#: Screens (statuses) and answers held at most while they cannot be written.
MAX_PENDING = 100_000


class BatchedFleetReports:
    """Implements :class:`~actors.ports.fleet.FleetSink`; a runtime service."""

    def __init__(
        self,
        uow: UnitOfWork,
        metrics: MetricsRegistry,
        *,
        node_id: str,
        status_every_s: float = 10.0,
        answers_every_s: float = 0.5,
        batch_size: int = BATCH_SIZE,
        max_pending: int = MAX_PENDING,
        clock: Callable[[], float] = time.monotonic,
        final_flush_s: float | None = None,
    ) -> None:
        if min(status_every_s, answers_every_s) <= 0 or not 1 <= batch_size <= max_pending:
            raise ValueError("need flush intervals > 0 and 1 <= batch_size <= max_pending")
        self._uow = uow
        self._final_flush_s = (
            LifecycleSettings().flush_timeout_s if final_flush_s is None else final_flush_s
        )
        self._node_id = node_id
        self._status_every_s = status_every_s
        self._answers_every_s = answers_every_s
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._clock = clock
        self._statuses: dict[UUID, tuple[UUID, Heartbeat, datetime]] = {}
        self._answers: dict[tuple[UUID, UUID], CommandAnswer] = {}
        self._stopping = False
        self._wake = anyio.Event()
        self._status_due = 0.0
        self._dropped = metrics.counter(
            "signage_fleet_reports_dropped_total",
            "Status reports and command answers dropped: the buffer was full (PostgreSQL down).",
            labels=("kind",),
        )
        self._failures = metrics.counter(
            "signage_fleet_flush_failures_total",
            "Batches of status reports or command answers that could not be written (retried).",
            labels=("kind",),
        )
        self._written = metrics.counter(
            "signage_fleet_reports_written_total",
            "Status reports and command answers stored.",
            labels=("kind",),
        )

    # -- the sink (device actors) ------------------------------------------------------------

    def status(self, tenant_id: UUID, device_id: UUID, heartbeat: Heartbeat, at: datetime) -> None:
        """Keep ``heartbeat``'s status as the screen's latest (replacing an unwritten one)."""
        statuses = self._statuses
        if device_id not in statuses and len(statuses) >= self._max_pending:
            self._dropped.inc(kind="status")
            return
        # Kept as received (a tuple, no copy): the report is built when it is written.
        statuses[device_id] = (tenant_id, heartbeat, at)

    def answered(
        self, tenant_id: UUID, device_id: UUID, frame: CommandResultFrame, at: datetime
    ) -> None:
        """Keep the screen's answer to a command (the first one counts)."""
        answers = self._answers
        # Keyed by device too: another screen naming this command cannot shadow its answer.
        key = (frame.id, device_id)
        if key in answers:
            return
        if len(answers) >= self._max_pending:
            self._dropped.inc(kind="answer")
            return
        answers[key] = CommandAnswer(
            tenant_id=tenant_id,
            device_id=device_id,
            command_id=frame.id,
            result=frame.result,
            detail=frame.detail,
            at=at,
            node_id=self._node_id,
        )
        self._wake.set()

    def pending(self) -> tuple[int, int]:
        """Statuses and answers not written yet."""
        return len(self._statuses), len(self._answers)

    # -- the service ------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        self._status_due = self._clock() + self._status_every_s
        try:
            while not self._stopping:
                with anyio.move_on_after(self._answers_every_s):
                    await self._wake.wait()
                self._wake = anyio.Event()
                await self.flush_answers()
                if self._clock() >= self._status_due:
                    self._status_due = self._clock() + self._status_every_s
                    await self.flush_statuses()
        finally:
            # The device actors have stopped (services stop after actors): write the rest.
            with anyio.CancelScope(shield=True), anyio.move_on_after(self._final_flush_s):
                await self.flush_answers()
                await self.flush_statuses()

    async def flush_statuses(self) -> int:
        """Write every pending status, a batch per statement; returns the rows written.
        Never raises: a batch that fails is kept (unless a newer status came meanwhile)."""
        written = 0
        while self._statuses:
            keys = list(self._statuses)[: self._batch_size]
            held = {key: self._statuses.pop(key) for key in keys}
            batch = [self._report(device_id, *entry) for device_id, entry in held.items()]
            try:
                async with self._uow.platform() as tx:
                    written += await tx.fleet.record_health(batch)
            except Exception as exc:  # PostgreSQL down: keep them for the next flush
                self._failures.inc(kind="status")
                log.warning("could not store %d screen statuses: %s", len(batch), exc)
                for device_id, entry in held.items():
                    self._statuses.setdefault(device_id, entry)  # unless a newer one came
                break
        self._written.inc(written, kind="status")
        return written

    def _report(
        self, device_id: UUID, tenant_id: UUID, heartbeat: Heartbeat, at: datetime
    ) -> StatusReport:
        return StatusReport(
            tenant_id=tenant_id,
            device_id=device_id,
            health=DeviceHealth(
                reported_at=at,
                node_id=self._node_id,
                app_version=heartbeat.app_version,
                uptime_s=heartbeat.uptime_s,
                display_on=heartbeat.display_on,
                free_storage_bytes=heartbeat.free_storage_bytes,
                last_error=heartbeat.last_error,
                playing=heartbeat.playing,
                manifest_version=heartbeat.manifest_version,
            ),
        )

    async def flush_answers(self) -> int:
        """Write every pending command answer; returns how many were stored (an answer to
        another device's, an answered or an expired command is not). Never raises."""
        written = 0
        while self._answers:
            keys = list(self._answers)[: self._batch_size]
            batch = [self._answers.pop(key) for key in keys]
            try:
                async with self._uow.platform() as tx:
                    written += await tx.fleet.record_answers(batch)
            except Exception as exc:
                self._failures.inc(kind="answer")
                log.warning("could not store %d command answers: %s", len(batch), exc)
                for answer in batch:
                    self._answers.setdefault((answer.command_id, answer.device_id), answer)
                break
        self._written.inc(written, kind="answer")
        return written
