"""The tenant actor's emergency part: its board, its catch-ups, its metrics.

A :class:`TenantEmergencies` belongs to one tenant actor (built by
:meth:`NodeEmergencies.for_tenant`). The actor hands it every emergency event it hears
of and pushes the :class:`~actors.domain.emergency_board.Fanout` it answers to the
targeted sessions' outboxes: one pre-encoded frame per emergency, whatever the number of
screens.

Catching up: after every change the board's :class:`~actors.domain.emergency_board.BoardPosition`
(how far it applied, what it shows) is published in :attr:`NodeEmergencies.positions`.
The node's :class:`~actors.services.emergency_watch.EmergencyWatch` reads PostgreSQL's
heads periodically, decides from those positions which tenant actors are behind, reads
what they miss from the outbox in the same pass, in its own task, and tells each actor
:class:`CaughtUp` once. An actor that knows it misses something (a number skipped, its
first snapshot failed) and the reconciler (a relay gap) only *request* a catch-up: the
watch serves it at once the same way. The actor never waits for PostgreSQL on that path,
so a slow or unreachable database cannot hold up the fan-out of the next emergency, nor
the sessions opening meanwhile. (Only a tenant actor's start reads its first snapshot
itself: no session is registered before it anyway.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import anyio
import msgspec

from actors.domain.emergencies import EmergencyEvent, EmergencySnapshot
from actors.domain.emergency_board import BoardPosition, BoardSummary, EmergencyBoard, Fanout
from actors.metrics import MetricsRegistry
from actors.ports.emergencies import EmergencyFeed
from actors.runtime import ActorRef

log = logging.getLogger("actors.emergencies")


class CaughtUp(msgspec.Struct, frozen=True):
    """What the watch service read from PostgreSQL for a tenant actor that was behind:
    a ``snapshot`` (when the actor had none) and/or the outbox ``events`` after ``after``.
    ``head`` is the tenant's last number at the time of the read; ``more`` says the
    outbox holds more after ``events`` (the watch reads on and tells the next batch)."""

    after: int | None
    head: int
    snapshot: EmergencySnapshot | None = None
    events: tuple[EmergencyEvent, ...] = ()
    more: bool = False


class EmergencyMetrics:
    """The emergency fan-out's metric families (one set per node)."""

    def __init__(self, registry: MetricsRegistry) -> None:
        self.events = registry.counter(
            "signage_emergency_events_total",
            "Emergency events heard by tenant actors, by result (applied, repeat).",
            labels=("result",),
        )
        self.frames = registry.counter(
            "signage_emergency_frames_total",
            "Emergency frames queued for screens, by moment (fanout, opening, regroup).",
            labels=("moment",),
        )
        #: Bound once: every fan-out counts its frames without a label lookup.
        self.fanout_frames = self.frames.labels(moment="fanout")
        self.fanout_seconds = registry.histogram(
            "signage_emergency_fanout_seconds",
            "Time a tenant actor took to queue one emergency frame for all its screens.",
        )
        self.catch_ups = registry.counter(
            "signage_emergency_catch_ups_total",
            "Catch-up reads from PostgreSQL (snapshots and outbox batches), by result"
            " (ok, failed).",
            labels=("result",),
        )
        self.caught_up = registry.counter(
            "signage_emergency_caught_up_total",
            "Emergency starts and ends shown through a catch-up (missed live).",
        )
        self.rebased = registry.counter(
            "signage_emergency_rebased_total",
            "Tenant views rebuilt because PostgreSQL lacks numbers they had applied.",
        )


@dataclass(frozen=True, slots=True)
class CatchUpRequest:
    """Catch ``ref`` (the tenant actor of ``tenant_id``) up from where its published
    position says it is when the watch serves the request."""

    tenant_id: UUID
    ref: ActorRef


class CatchUpQueue:
    """Catch-up requests waiting for the watch service: at most one per tenant (a newer
    request replaces an older one). Bounded by the number of tenant actors."""

    def __init__(self) -> None:
        self._pending: dict[UUID, CatchUpRequest] = {}
        self._wake = anyio.Event()

    def request(self, request: CatchUpRequest) -> None:
        self._pending[request.tenant_id] = request
        self._wake.set()

    async def wait(self) -> None:
        """Until a request is pending (returns at once if one is)."""
        await self._wake.wait()

    def wake(self) -> None:
        """Wake the waiter without a request (its owner is stopping)."""
        self._wake.set()

    def take(self) -> list[CatchUpRequest]:
        taken = list(self._pending.values())
        self._pending.clear()
        self._wake = anyio.Event()
        return taken

    def __len__(self) -> int:
        return len(self._pending)


class NodeEmergencies:
    """What this node's tenant actors share with the watch service: the feed, the
    catch-up queue, each tenant actor's position, the metrics."""

    def __init__(
        self,
        feed: EmergencyFeed | None,
        metrics: MetricsRegistry | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.feed = feed
        self.queue = CatchUpQueue()
        #: Per tenant, the number up to which this node's tenant actor had applied every
        #: event: its next incarnation knows what the sessions that rejoin it have seen.
        self.applied: dict[UUID, int] = {}
        #: Per tenant, how far the board of its current tenant actor got (published by the
        #: actor after every change, read by the watch service). Absent until the actor's
        #: start has tried its first snapshot.
        self.positions: dict[UUID, BoardPosition] = {}
        self.metrics = EmergencyMetrics(metrics if metrics is not None else MetricsRegistry())
        self.clock = clock or _utc_now

    def for_tenant(self, tenant_id: UUID) -> TenantEmergencies:
        return TenantEmergencies(tenant_id, self)

    def request_catch_up(self, tenant_id: UUID, ref: ActorRef) -> None:
        """Ask the watch service to catch ``ref`` up now (returns at once; a no-op
        without a feed)."""
        if self.feed is None:
            return
        log.debug("tenant %s: catch-up requested", tenant_id)
        self.queue.request(CatchUpRequest(tenant_id, ref))


class TenantEmergencies:
    """See the module docstring."""

    def __init__(self, tenant_id: UUID, node: NodeEmergencies) -> None:
        self.tenant_id = tenant_id
        self.board = EmergencyBoard()
        self._node = node
        #: What the previous incarnation of this tenant actor had applied (``None``: none).
        self.previous_seq = node.applied.get(tenant_id)
        # The previous incarnation's position is not this board's: none until load().
        node.positions.pop(tenant_id, None)

    def _applied(self) -> None:
        if self.board.seq is not None:
            self._node.applied[self.tenant_id] = self.board.seq
        self._node.positions[self.tenant_id] = self.board.position()

    # -- events ----------------------------------------------------------------------------

    def heard(self, event: EmergencyEvent) -> Fanout | None:
        """An event from this node's use case or the relay."""
        fanout = self.board.apply(event)
        self._node.metrics.events.inc(result="repeat" if fanout is None else "applied")
        self._applied()
        return fanout

    @property
    def has_gap(self) -> bool:
        return self.board.has_gap

    # -- catching up -----------------------------------------------------------------------

    async def load(self) -> list[Fanout]:
        """Read the tenant's snapshot now (a tenant actor's start); on failure, answer
        nothing: the board stays without a snapshot, which the watch service reads at its
        next check. Never raises."""
        feed = self._node.feed
        if feed is None:
            return []
        try:
            snapshot = await feed.snapshot(self.tenant_id, self.board.active_ids())
        except Exception as exc:  # PostgreSQL down: the watch service retries
            self._applied()
            self._node.metrics.catch_ups.inc(result="failed")
            log.warning("tenant %s: emergency snapshot failed: %s", self.tenant_id, exc)
            return []
        self._node.metrics.catch_ups.inc(result="ok")
        fanouts = self.board.load(snapshot)
        self._applied()
        return fanouts

    def request_catch_up(self, ref: ActorRef) -> None:
        """Ask the watch service to read what the board misses (returns at once)."""
        self._node.request_catch_up(self.tenant_id, ref)

    def caught_up(self, msg: CaughtUp, ref: ActorRef) -> list[Fanout]:
        """Apply what the watch service read (it tells the next batch itself when there
        is more); requests a catch-up only when the board still misses a number."""
        if msg.after is not None and msg.after > msg.head:
            # The board had applied numbers PostgreSQL does not hold: the database went
            # back in time (a restore). Start over from what it holds.
            log.error(
                "tenant %s: emergency numbers up to %d are not in PostgreSQL (head %d): "
                "rebuilding this node's view from it",
                self.tenant_id,
                msg.after,
                msg.head,
            )
            self._node.metrics.rebased.inc()
            self.board = EmergencyBoard()
            self._applied()
            self.request_catch_up(ref)
            return []
        log.debug(
            "tenant %s: caught up after %s: %d events, head %d",
            self.tenant_id,
            msg.after,
            len(msg.events),
            msg.head,
        )
        fanouts: list[Fanout] = []
        if msg.snapshot is not None:
            fanouts += self.board.load(msg.snapshot)
        fanouts += self.board.catch_up(msg.events)
        self._applied()
        if not msg.more and self.board.has_gap:
            self.request_catch_up(ref)
        self._node.metrics.caught_up.inc(len(fanouts))
        return fanouts

    # -- screens ---------------------------------------------------------------------------

    def opening(self, device_id: UUID, groups: Iterable[str], last_seq: int | None) -> list[str]:
        frames = self.board.opening(device_id, groups, last_seq, self._node.clock())
        if frames:
            self._node.metrics.frames.inc(len(frames), moment="opening")
        return frames

    def regrouped(self, device_id: UUID, before: Iterable[str], after: Iterable[str]) -> list[str]:
        frames = self.board.regrouped(device_id, before, after, self._node.clock())
        if frames:
            self._node.metrics.frames.inc(len(frames), moment="regroup")
        return frames

    def fanned_out(self, sessions: int, started: float) -> None:
        """Record one fan-out to ``sessions`` screens, begun at ``time.perf_counter()``
        reading ``started``."""
        metrics = self._node.metrics
        metrics.fanout_seconds.observe(time.perf_counter() - started)
        metrics.fanout_frames.inc(sessions)

    def summary(self) -> BoardSummary:
        return self.board.summary()


async def serve_catch_up(
    feed: EmergencyFeed, tenant_id: UUID, position: BoardPosition, batch: int
) -> CaughtUp:
    """Read what a board at ``position`` misses, one batch (the watch service's half of a
    catch-up): a snapshot first if it has none, then the outbox after it.

    :raises Exception: whatever the feed raises (PostgreSQL unreachable...).
    """
    if position.seq is None:
        snapshot = await feed.snapshot(tenant_id, position.active)
        events = await feed.events_after(tenant_id, snapshot.head, batch)
        head = max([snapshot.head, *(e.seq for e in events)])
        return CaughtUp(None, head, snapshot, tuple(events), more=len(events) >= batch)
    after = position.seq
    events = await feed.events_after(tenant_id, after, batch)
    if events:
        return CaughtUp(after, events[-1].seq, None, tuple(events), len(events) >= batch)
    heads = await feed.heads([tenant_id])
    return CaughtUp(after, heads.get(tenant_id, 0))


def _utc_now() -> datetime:
    return datetime.now(UTC)
