"""Keeping Python's full garbage collections out of emergency fan-outs.

Every live session holds a few hundred objects that the cyclic garbage collector tracks
(actors, mailboxes, outboxes, the server's protocol objects). At 10,000 sessions a full
(generation 2) collection walks millions of them and stops the event loop for the best
part of a second; a broadcast allocates enough to set one off, so without care the
collection lands *inside* the broadcast (PERF-NOTES: 4 runs out of 4).

:class:`GcPolicy` (a runtime service) freezes the heap once the node's sessions have
settled: ``gc.freeze()`` moves every object alive at that moment into a permanent
generation that collections no longer walk, so a collection during a fan-out costs only
what was allocated since. Sessions come and go, so it freezes again whenever the count
has moved and settled again; when the count has fallen below half of what it was at the
last freeze it unfreezes first, so the ended sessions' cycles can be reclaimed (that one
collection then walks everything, at a moment with no reason to expect a broadcast).

It also reports every collection (generation, pause) in the metrics, which is how the
choice can be checked in production.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc

from actors.metrics import LATENCY_BUCKETS, MetricsRegistry

log = logging.getLogger("actors.gc")

#: Relative change of the session count that counts as "moved" (re-freeze once settled).
MOVED = 0.05
#: Below this share of the count at the last freeze, unfreeze before freezing again.
SHRUNK = 0.5


class GcPolicy:
    """A runtime service; see the module docstring. ``settle_s=0`` only records pauses."""

    def __init__(
        self,
        sessions: Callable[[], int],
        metrics: MetricsRegistry,
        *,
        settle_s: float,
        check_every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if settle_s < 0 or check_every_s <= 0:
            raise ValueError("settle_s >= 0 and check_every_s > 0")
        self._sessions = sessions
        self._settle_s = settle_s
        self._check_every_s = check_every_s
        self._clock = clock
        self._stop = anyio.Event()
        self._last_count: int | None = None
        self._steady_since = clock()
        #: Sessions at the last freeze (``None``: not frozen).
        self.frozen_at: int | None = None
        self.freezes = 0
        self._started: float | None = None
        self._pauses = metrics.histogram(
            "signage_gc_pause_seconds",
            "Garbage collection pauses, by generation.",
            LATENCY_BUCKETS,
            labels=("generation",),
        )
        self._freezes = metrics.counter(
            "signage_gc_freezes_total", "gc.freeze() calls (heap frozen after sessions settled)."
        )
        metrics.callback(
            "signage_gc_frozen_objects",
            "Objects in the permanent generation (gc.get_freeze_count()).",
            lambda: [((), float(gc.get_freeze_count()))],
        )
        metrics.callback(
            "signage_gc_frozen_sessions",
            "Sessions there were at the last freeze (-1: the heap is not frozen).",
            lambda: [((), float(-1 if self.frozen_at is None else self.frozen_at))],
        )

    def stop(self) -> None:
        self._stop.set()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        gc.callbacks.append(self._observe)
        task_status.started()
        try:
            while not self._stop.is_set():
                self.check()
                with anyio.move_on_after(self._check_every_s):
                    await self._stop.wait()
        finally:
            gc.callbacks.remove(self._observe)

    def check(self) -> None:
        """One look at the session count; freezes (or unfreezes and freezes) when due
        (public for tests)."""
        if self._settle_s <= 0:
            return
        now = self._clock()
        count = self._sessions()
        last = self._last_count
        if last is None or abs(count - last) > max(1.0, MOVED * last):
            self._last_count = count
            self._steady_since = now
            return
        if now - self._steady_since < self._settle_s:
            return
        frozen_at = self.frozen_at
        if frozen_at is not None and abs(count - frozen_at) <= max(1.0, MOVED * frozen_at):
            return  # frozen at about this count already
        if frozen_at is not None and count < SHRUNK * frozen_at:
            gc.unfreeze()
            log.info("sessions fell from %d to %d: heap unfrozen", frozen_at, count)
        gc.freeze()
        self.frozen_at = count
        self.freezes += 1
        self._freezes.inc()
        log.info("heap frozen at %d sessions (%d objects)", count, gc.get_freeze_count())

    def _observe(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            self._pauses.observe(
                time.perf_counter() - self._started, generation=str(info.get("generation"))
            )
            self._started = None
