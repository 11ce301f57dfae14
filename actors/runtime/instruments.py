"""The runtime's metric families, registered once per runtime.

Counters move on the slow paths only (a drop, a crash, a restart); depths and counts
are summed over the live actors at scrape time, so the message hot path records no
metric at all. Labels are actor kinds, never actor ids: 10,000 devices are one series.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from actors.metrics import MetricsRegistry, Sample

if TYPE_CHECKING:
    from actors.runtime.cell import ActorCell


class RuntimeMetrics:
    def __init__(self, registry: MetricsRegistry, cells: Callable[[], Iterable[ActorCell]]):
        self._cells = cells
        self.dropped = registry.counter(
            "signage_actor_messages_dropped_total",
            "Messages that left a mailbox unhandled: overflow (drop-oldest), superseded "
            "(coalesced), stopped (discarded when the actor stopped).",
            labels=("kind", "reason"),
        )
        self.overflows = registry.counter(
            "signage_actor_mailbox_overflows_total",
            "Times an actor fell behind its never-drop messages (one had to use the "
            "mailbox's reserve) and was told so through on_overflow.",
            labels=("kind",),
        )
        self.crashes = registry.counter(
            "signage_actor_crashes_total",
            "Actor incarnations that ended with an error (handler, hook or kill).",
            labels=("kind",),
        )
        self.restarts = registry.counter(
            "signage_actor_restarts_total",
            "Restarts after a crash.",
            labels=("kind",),
        )
        self.kills = registry.counter(
            "signage_actor_kills_total",
            "Actors killed by the runtime: stuck handler or mailbox past its reserve.",
            labels=("kind", "cause"),
        )
        self.give_ups = registry.counter(
            "signage_actor_give_ups_total",
            "Children a supervisor stopped restarting (restart budget exhausted).",
            labels=("kind",),
        )
        self.spawned = registry.counter(
            "signage_actors_spawned_total", "Actors spawned.", labels=("kind",)
        )
        registry.callback(
            "signage_actors",
            "Live actors on this node.",
            self._count,
            labels=("kind",),
        )
        registry.callback(
            "signage_actor_mailbox_depth",
            "Queued messages, summed over the live actors of a kind.",
            self._depth,
            labels=("kind",),
        )
        registry.callback(
            "signage_actor_mailbox_depth_max",
            "The deepest mailbox among the live actors of a kind.",
            self._depth_max,
            labels=("kind",),
        )
        registry.callback(
            "signage_actor_messages_processed",
            "Messages handled by the live actors of a kind (restarts when actors go).",
            self._processed,
            labels=("kind",),
        )

    def _by_kind(self, value: Callable[[ActorCell], int], combine: str) -> Iterable[Sample]:
        totals: dict[str, int] = {}
        for cell in self._cells():
            v = value(cell)
            if combine == "max":
                totals[cell.kind] = max(totals.get(cell.kind, 0), v)
            else:
                totals[cell.kind] = totals.get(cell.kind, 0) + v
        return [((kind,), float(total)) for kind, total in sorted(totals.items())]

    def _count(self) -> Iterable[Sample]:
        return self._by_kind(lambda _cell: 1, "sum")

    def _depth(self) -> Iterable[Sample]:
        return self._by_kind(lambda cell: len(cell.mailbox), "sum")

    def _depth_max(self) -> Iterable[Sample]:
        return self._by_kind(lambda cell: len(cell.mailbox), "max")

    def _processed(self) -> Iterable[Sample]:
        return self._by_kind(lambda cell: cell.processed, "sum")
