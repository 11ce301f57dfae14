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

A reconnect storm is the worst moment to wait for the count to settle: thousands of
sessions open within seconds, the heap grows by millions of tracked objects, and each of
the automatic full collections this growth sets off walks all of it (measured: 3,000
screens opening, 10 full collections, 7.5 s of a 18 s storm). So while sessions keep
opening (at least ``growing`` more than at the last check) it freezes at every check,
after collecting the young generations (cheap, and the garbage of finished handshakes
is not frozen with the sessions). ``gc.freeze()`` itself is O(1) (a list splice).

Freezing at every check still left ~30 automatic full collections in a 10,000-screen
storm (4.2 s of pauses): each walks everything promoted since the last freeze, and the
growth sets one off every few hundred sessions. So while a storm is underway the
generation-2 threshold is raised out of reach (:data:`STORM_GEN2_THRESHOLD`): only the
young generations are collected automatically, and the check's freeze (after its own
young collection) takes what survived; the shipped threshold is back at the first check
that sees no storm (and when the service stops).

Before any freeze that follows a fall below half of the count at the last freeze (the
lowest count seen since, so a blip that drops every screen and brings them back within a
check still counts), it unfreezes and runs one full collection: the ended sessions'
cycles are reclaimed once, instead of being frozen again.

A stopping node sets collections off for its drain (:mod:`edge.lifecycle`); the policy
then holds off: no freeze, no reclaiming collection.

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
#: Sessions opened between two checks that mean a storm is underway (freeze at once).
GROWING = 50
#: Generation-2 threshold during a storm: no automatic full collection meanwhile.
STORM_GEN2_THRESHOLD = 1_000_000


class GcPolicy:
    """A runtime service; see the module docstring. ``settle_s=0`` only records pauses."""

    def __init__(
        self,
        sessions: Callable[[], int],
        metrics: MetricsRegistry,
        *,
        settle_s: float,
        check_every_s: float = 1.0,
        growing: int = GROWING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if settle_s < 0 or check_every_s <= 0 or growing < 1:
            raise ValueError("settle_s >= 0, check_every_s > 0 and growing >= 1")
        self._growing = growing
        self._sessions = sessions
        self._settle_s = settle_s
        self._check_every_s = check_every_s
        self._clock = clock
        self._stop = anyio.Event()
        self._last_count: int | None = None
        self._steady_since = clock()
        #: Sessions at the last freeze (``None``: not frozen).
        self.frozen_at: int | None = None
        #: The fewest sessions seen since the last freeze.
        self._low: int | None = None
        self.freezes = 0
        #: Full collections run to reclaim ended sessions before freezing again.
        self.reclaims = 0
        self._started: float | None = None
        #: The thresholds to restore after a storm (``None``: none underway).
        self._thresholds: tuple[int, int, int] | None = None
        self._pauses = metrics.histogram(
            "signage_gc_pause_seconds",
            "Garbage collection pauses, by generation.",
            LATENCY_BUCKETS,
            labels=("generation",),
        )
        self._freezes = metrics.counter(
            "signage_gc_freezes_total", "gc.freeze() calls (heap frozen after sessions settled)."
        )
        #: ``gc.get_freeze_count()`` walks the whole permanent generation (millions of
        #: objects at 10,000 sessions): counted at most once per freeze, when scraped.
        self._frozen_objects: int | None = None
        metrics.callback(
            "signage_gc_frozen_objects",
            "Objects in the permanent generation (gc.get_freeze_count(), counted once per freeze).",
            lambda: [((), float(self.frozen_objects()))],
        )
        metrics.callback(
            "signage_gc_frozen_sessions",
            "Sessions there were at the last freeze (-1: the heap is not frozen).",
            lambda: [((), float(-1 if self.frozen_at is None else self.frozen_at))],
        )

    def stop(self) -> None:
        self._stop.set()

    def frozen_objects(self) -> int:
        """Objects in the permanent generation, counted once after each freeze."""
        if self._frozen_objects is None:
            self._frozen_objects = gc.get_freeze_count()
        return self._frozen_objects

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
            self._storm_over()

    def check(self) -> None:
        """One look at the session count; freezes (or unfreezes, collects and freezes)
        when due (public for tests)."""
        if self._settle_s <= 0 or not gc.isenabled():  # off: the node is stopping
            return
        now = self._clock()
        count = self._sessions()
        last = self._last_count
        self._low = count if self._low is None else min(self._low, count)
        if last is not None and count - last >= max(self._growing, MOVED * last):
            # Sessions are opening fast (a storm): freeze what they hold now, not once
            # they have settled, or every automatic full collection walks them all.
            self._last_count = count
            self._steady_since = now
            self._storm_underway()
            self._freeze(count)
            return
        self._storm_over()
        if last is None or abs(count - last) > max(1.0, MOVED * last):
            self._last_count = count
            self._steady_since = now
            return
        if now - self._steady_since < self._settle_s:
            return
        frozen_at = self.frozen_at
        if frozen_at is not None and abs(count - frozen_at) <= max(1.0, MOVED * frozen_at):
            return  # frozen at about this count already
        self._freeze(count)

    @property
    def in_storm(self) -> bool:
        """Whether automatic full collections are held off for a storm."""
        return self._thresholds is not None

    def _storm_underway(self) -> None:
        if self._thresholds is None:
            self._thresholds = gc.get_threshold()
            young, middle, _old = self._thresholds
            gc.set_threshold(young, middle, STORM_GEN2_THRESHOLD)

    def _storm_over(self) -> None:
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None

    def _freeze(self, count: int) -> None:
        frozen_at = self.frozen_at
        low = count if self._low is None else self._low
        if frozen_at is not None and low < SHRUNK * frozen_at:
            # Ended sessions' cycles sit in the permanent generation: reclaim them once.
            gc.unfreeze()
            gc.collect()
            self.reclaims += 1
            log.info("sessions fell from %d to %d: heap unfrozen and collected", frozen_at, low)
        else:
            gc.collect(1)  # the young garbage (finished handshakes) is not frozen
        gc.freeze()
        self._frozen_objects = None
        self.frozen_at = count
        self._low = count
        self.freezes += 1
        self._freezes.inc()
        # No object count here: counting walks the whole frozen heap, and in a storm this
        # runs every check (signage_gc_frozen_objects counts once per freeze, if scraped).
        log.info("heap frozen at %d sessions", count)

    def _observe(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            self._pauses.observe(
                time.perf_counter() - self._started, generation=str(info.get("generation"))
            )
            self._started = None
