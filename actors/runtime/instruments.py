"""The runtime's metric families, registered once per runtime.

Counters move on the slow paths only (a drop, a crash, a restart); depths and counts
are summed over the live actors at scrape time (a collector), so the message hot path
records no metric at all. Labels are actor kinds, never actor ids: 10,000 devices are one series.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from actors.metrics import MetricsRegistry

if TYPE_CHECKING:
    from actors.runtime.cell import ActorCell


class RuntimeMetrics:
    def __init__(self, registry: MetricsRegistry, cells: Callable[[], Iterable[ActorCell]]):
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
        registry.register(_LiveActors(cells), what="signage_actors")


class _LiveActors:
    """A collector: actors, mailbox depths and messages handled, by kind, in one pass over
    the live actors per scrape (10,000 cells: a few milliseconds, off the hot path)."""

    def __init__(self, cells: Callable[[], Iterable[ActorCell]]) -> None:
        self._cells = cells

    def _families(self) -> tuple[GaugeMetricFamily, ...]:
        labels = ("kind",)
        return (
            GaugeMetricFamily("signage_actors", "Live actors on this node.", labels=labels),
            GaugeMetricFamily(
                "signage_actor_mailbox_depth",
                "Queued messages, summed over the live actors of a kind.",
                labels=labels,
            ),
            GaugeMetricFamily(
                "signage_actor_mailbox_depth_max",
                "The deepest mailbox among the live actors of a kind.",
                labels=labels,
            ),
            GaugeMetricFamily(
                "signage_actor_messages_processed",
                "Messages handled by the live actors of a kind (restarts when actors go).",
                labels=labels,
            ),
        )

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        # kind -> [count, depth, deepest, processed]
        totals: dict[str, list[int]] = {}
        for cell in self._cells():
            depth = len(cell.mailbox)
            row = totals.get(cell.kind)
            if row is None:
                totals[cell.kind] = [1, depth, depth, cell.processed]
            else:
                row[0] += 1
                row[1] += depth
                row[2] = max(row[2], depth)
                row[3] += cell.processed
        families = self._families()
        for kind, row in sorted(totals.items()):
            for family, value in zip(families, row, strict=True):
                family.add_metric((kind,), float(value))
        return families
