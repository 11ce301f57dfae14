"""Periodic housekeeping jobs of a node (expired registrations, and the like).

A runtime service: each job runs every ``every_s`` seconds, one after the other, and a
job's failure is logged and retried at its next turn; it never stops the others. Jobs
must be safe to run on every node at once (they are: each claims its rows with
``FOR UPDATE SKIP LOCKED`` or is idempotent).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import anyio
import anyio.abc

log = logging.getLogger(__name__)

#: How often the service looks for due jobs.
TICK_S = 1.0


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    every_s: float
    run: Callable[[], Awaitable[object]]


class Housekeeping:
    def __init__(self, jobs: Sequence[Job], clock: Callable[[], float] = time.monotonic) -> None:
        self._jobs = tuple(jobs)
        self._clock = clock
        self._due = {job.name: clock() + job.every_s for job in self._jobs}
        self._stop = anyio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        while not self._stop.is_set():
            with anyio.move_on_after(TICK_S):
                await self._stop.wait()
            await self.run_due()

    async def run_due(self) -> None:
        """Run every job whose time has come (public for tests)."""
        for job in self._jobs:
            now = self._clock()
            if now < self._due[job.name] or self._stop.is_set():
                continue
            self._due[job.name] = now + job.every_s
            try:
                result = await job.run()
            except Exception as exc:  # retried at the next turn
                log.warning("housekeeping: %s failed: %s", job.name, exc)
            else:
                log.debug("housekeeping: %s: %s", job.name, result)
