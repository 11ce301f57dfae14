"""The node's manifest feed against a fake source: merged per-tenant jobs, one worker per
tenant at a time, openings answered (and computed when missing), deliveries of newer
versions only, the horizon ticker and batched acknowledgements."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID, uuid4

import anyio
import msgspec
import pytest

from actors.domain.manifest_batch import DeviceScope
from actors.node.messages import Flush
from actors.node.outbox import Outbox
from actors.ports.manifests import Recomputation
from actors.services.manifest_feed import ManifestFeed
from actors.settings import ManifestSettings
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

T1 = UUID("00000000-0000-4000-8000-0000000000a1")
T2 = UUID("00000000-0000-4000-8000-0000000000a2")
WAIT_S = 5.0


@dataclass(frozen=True)
class Recomputed:
    frames: dict[UUID, tuple[int, str]]


@dataclass(frozen=True)
class Stored:
    frames: dict[UUID, tuple[int, str]]
    unplanned: list[UUID]


@dataclass
class FakeSource:
    """Stores (version, frame) per (tenant, device); recompute gives every device in the
    scope the next version. ``gates`` hold a tenant's recomputation until set."""

    stored: dict[tuple[UUID, UUID], tuple[int, str]] = field(default_factory=dict)
    recomputed: list[tuple[UUID, DeviceScope]] = field(default_factory=list)
    gates: dict[UUID, anyio.Event] = field(default_factory=dict)
    started: dict[UUID, anyio.Event] = field(default_factory=dict)
    due: list[UUID] = field(default_factory=list)
    acks: list[tuple[UUID, UUID, int, datetime]] = field(default_factory=list)
    acks_stored: anyio.Event = field(default_factory=anyio.Event)
    fail_next: bool = False
    version: int = 0
    #: Devices whose manifest another node stores first: a recompute leaves them unchanged.
    stored_elsewhere: dict[tuple[UUID, UUID], tuple[int, str]] = field(default_factory=dict)
    reads: list[dict[UUID, int]] = field(default_factory=list)
    #: Tenant-wide reads (``current``), and the approved devices they report unplanned.
    currents: list[UUID] = field(default_factory=list)
    unplanned: dict[UUID, list[UUID]] = field(default_factory=dict)

    async def recompute(self, tenant_id: UUID, scope: DeviceScope) -> Recomputation:
        self.recomputed.append((tenant_id, scope))
        self.started.setdefault(tenant_id, anyio.Event()).set()
        gate = self.gates.get(tenant_id)
        if gate is not None:
            await gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("database down")
        self.version += 1
        frames = {}
        self.stored.update(self.stored_elsewhere)
        for device_id in scope.device_ids:
            if (tenant_id, device_id) in self.stored_elsewhere:
                continue  # unchanged: not in the recomputation's frames
            frames[device_id] = (self.version, f"frame-{self.version}")
            self.stored[(tenant_id, device_id)] = frames[device_id]
        return Recomputed(frames)

    async def frames(
        self, tenant_id: UUID, known: Mapping[UUID, int]
    ) -> dict[UUID, tuple[int, str]]:
        self.reads.append(dict(known))
        found = {}
        for device_id, version in known.items():
            have = self.stored.get((tenant_id, device_id))
            if have is not None and have[0] > version:
                found[device_id] = have
        return found

    async def current(self, tenant_id: UUID) -> Stored:
        self.currents.append(tenant_id)
        stored = {d: found for (t, d), found in self.stored.items() if t == tenant_id}
        return Stored(stored, [d for d in self.unplanned.get(tenant_id, []) if d not in stored])

    async def claim_due(self, limit: int) -> list[UUID]:
        due, self.due = self.due[:limit], self.due[limit:]
        return due

    async def record_acks(self, acks: list[tuple[UUID, UUID, int, datetime]]) -> int:
        self.acks.extend(acks)
        self.acks_stored.set()
        return len(acks)


class FakeRef:
    def __init__(self) -> None:
        self.told: list[msgspec.Struct] = []

    def tell(self, message: msgspec.Struct) -> None:
        self.told.append(message)


@dataclass
class Session:
    ref: FakeRef = field(default_factory=FakeRef)
    outbox: Outbox = field(default_factory=Outbox)


@asynccontextmanager
async def running(source: FakeSource, **config: float) -> AsyncIterator[ManifestFeed]:
    settings = {"workers": 2, "tick_s": 3600.0, "opening_timeout_s": 1.0, **config}
    feed = ManifestFeed(source, config=ManifestSettings(**settings))  # type: ignore[arg-type]
    async with anyio.create_task_group() as tasks:
        await tasks.start(feed.run)
        try:
            yield feed
        finally:
            feed.stop()


async def settled(feed: ManifestFeed) -> None:
    with anyio.fail_after(WAIT_S):
        await feed.settled()


async def test_refreshes_of_a_busy_tenant_merge_into_one_next_job() -> None:
    source = FakeSource(gates={T1: anyio.Event()})
    a, b, c = uuid4(), uuid4(), uuid4()
    async with running(source) as feed:
        feed.refresh(T1, DeviceScope.devices(a))
        with anyio.fail_after(WAIT_S):
            await source.started.setdefault(T1, anyio.Event()).wait()
        feed.refresh(T1, DeviceScope.devices(b))
        feed.refresh(T1, DeviceScope(groups=frozenset({"lobby"})))
        feed.refresh(T1, DeviceScope.devices(c))
        source.gates[T1].set()
        await settled(feed)
    assert source.recomputed == [
        (T1, DeviceScope.devices(a)),
        (T1, DeviceScope(groups=frozenset({"lobby"}), device_ids=frozenset({b, c}))),
    ]


async def test_a_scope_naming_too_much_becomes_everyone() -> None:
    source = FakeSource(gates={T1: anyio.Event()})
    async with running(source, max_named=2) as feed:
        feed.refresh(T1, DeviceScope.devices(uuid4()))
        with anyio.fail_after(WAIT_S):
            await source.started.setdefault(T1, anyio.Event()).wait()
        for _ in range(3):
            feed.refresh(T1, DeviceScope.devices(uuid4()))
        source.gates[T1].set()
        await settled(feed)
    assert source.recomputed[-1] == (T1, DeviceScope.all())


async def test_a_slow_tenant_does_not_hold_up_another() -> None:
    source = FakeSource(gates={T1: anyio.Event()})
    async with running(source) as feed:
        feed.refresh(T1, DeviceScope.all())
        with anyio.fail_after(WAIT_S):
            await source.started.setdefault(T1, anyio.Event()).wait()
        feed.refresh(T2, DeviceScope.all())
        with anyio.fail_after(WAIT_S):
            await source.started.setdefault(T2, anyio.Event()).wait()
        assert [tenant for tenant, _ in source.recomputed] == [T1, T2]
        source.gates[T1].set()
        await settled(feed)


async def test_an_opening_gets_the_stored_frame() -> None:
    device = uuid4()
    source = FakeSource(stored={(T1, device): (7, "frame-7")})
    async with running(source) as feed:
        assert await feed.fetch(T1, device) == (7, "frame-7")
    assert source.recomputed == []


async def test_a_new_device_gets_its_first_manifest_computed() -> None:
    device = uuid4()
    source = FakeSource()
    async with running(source) as feed:
        assert await feed.fetch(T1, device) == (1, "frame-1")
    assert source.recomputed == [(T1, DeviceScope.devices(device))]


async def test_a_first_manifest_is_answered_from_its_recomputation_not_read_back() -> None:
    device = uuid4()
    source = FakeSource()
    async with running(source) as feed:
        assert await feed.fetch(T1, device) == (1, "frame-1")
    assert source.reads == [{device: 0}]  # the look-up that found none, no read-back


async def test_a_first_manifest_another_node_stored_meanwhile_is_read() -> None:
    device = uuid4()
    source = FakeSource(stored_elsewhere={(T1, device): (4, "frame-4")})
    async with running(source) as feed:
        assert await feed.fetch(T1, device) == (4, "frame-4")
    assert source.reads == [{device: 0}, {device: 0}]


async def test_an_opening_that_cannot_be_served_in_time_starts_without() -> None:
    source = FakeSource(gates={T1: anyio.Event()})
    async with running(source, opening_timeout_s=0.05) as feed:
        assert await feed.fetch(T1, uuid4()) is None
        source.gates[T1].set()
        await settled(feed)


async def test_an_opening_on_a_stopped_feed_answers_at_once() -> None:
    feed = ManifestFeed(FakeSource(), config=ManifestSettings(opening_timeout_s=60.0))
    with anyio.fail_after(1.0):
        assert await feed.fetch(T1, uuid4()) is None


async def test_deliveries_push_only_newer_versions_and_flush() -> None:
    behind, current, unknown = uuid4(), uuid4(), uuid4()
    source = FakeSource(stored={(T1, behind): (5, "frame-5"), (T1, current): (5, "frame-5")})
    sessions = {behind: Session(), current: Session(), unknown: Session()}
    assert sessions[current].outbox.put_manifest("frame-5", 5)
    async with running(source) as feed:
        feed.deliver(T1, sessions.items())  # type: ignore[arg-type]
        await settled(feed)
    assert sessions[behind].outbox.manifest_version == 5
    assert sessions[behind].outbox.pop() == "frame-5"
    assert sessions[behind].ref.told == [Flush()]
    assert sessions[current].ref.told == []
    assert sessions[unknown].ref.told == []
    assert source.recomputed == []  # deliveries never compute


async def test_delivering_to_no_session_leaves_nothing_pending() -> None:
    async with running(FakeSource()) as feed:
        feed.deliver(T1, [])
        await settled(feed)


async def test_a_failing_job_is_logged_and_the_feed_goes_on() -> None:
    device = uuid4()
    source = FakeSource(fail_next=True)
    async with running(source) as feed:
        feed.refresh(T1, DeviceScope.all())
        await settled(feed)
        assert await feed.fetch(T1, device) == (1, "frame-1")


async def test_the_horizon_ticker_refreshes_due_tenants_whole() -> None:
    source = FakeSource(due=[T1, T2])
    async with running(source, tick_s=0.01) as feed:
        with anyio.fail_after(WAIT_S):
            await source.started.setdefault(T2, anyio.Event()).wait()
        await settled(feed)
    assert sorted(source.recomputed, key=lambda r: r[0]) == [
        (T1, DeviceScope.all()),
        (T2, DeviceScope.all()),
    ]


async def test_acknowledgements_are_written_in_batches() -> None:
    source = FakeSource()
    at = datetime(2030, 1, 1, tzinfo=UTC)
    async with running(source, ack_flush_s=0.01) as feed:
        feed.manifest_acked(T1, UUID(int=1), 3, at)
        feed.manifest_acked(T1, UUID(int=2), 4, at)
        with anyio.fail_after(WAIT_S):
            await source.acks_stored.wait()
    assert source.acks == [(T1, UUID(int=1), 3, at), (T1, UUID(int=2), 4, at)]


def test_the_outbox_refuses_older_manifest_versions() -> None:
    outbox = Outbox()
    assert outbox.put_manifest("v3", 3)
    assert not outbox.put_manifest("v2", 2)
    assert not outbox.put_manifest("v3 again", 3)
    assert outbox.put_manifest("v4", 4)
    assert outbox.pop() == "v4"  # coalesced: only the newest is sent
    assert outbox.pop() is None
    assert outbox.put_manifest("unversioned")  # the idle opening carries none


# -- the opening cache -----------------------------------------------------------------


@dataclass
class Index:
    """This node's sessions by device, as presence holds them (the feed's SessionIndex)."""

    connected: dict[UUID, Session] = field(default_factory=dict)

    def sessions(self, tenant_id: UUID, device_ids: Iterable[UUID]) -> list[tuple[UUID, Session]]:
        return [(d, self.connected[d]) for d in device_ids if d in self.connected]


@asynccontextmanager
async def running_with(
    source: FakeSource, index: Index, **config: float
) -> AsyncIterator[ManifestFeed]:
    settings = {"workers": 2, "tick_s": 3600.0, "opening_timeout_s": 1.0, **config}
    feed = ManifestFeed(source, sessions=index, config=ManifestSettings(**settings))  # type: ignore[arg-type]
    async with anyio.create_task_group() as tasks:
        await tasks.start(feed.run)
        try:
            yield feed
        finally:
            feed.stop()


async def open_session(feed: ManifestFeed, index: Index, device_id: UUID) -> Session:
    """What a device actor and its tenant actor do when a screen connects: the session
    joins presence, registers (which asks for a delivery), then fetches its opening."""
    session = index.connected[device_id] = Session()
    feed.deliver(T1, [(device_id, session)])  # type: ignore[list-item]
    found = await feed.fetch(T1, device_id)
    if found is not None:
        session.outbox.put_manifest(found[1], found[0])
    return session


async def test_an_opening_after_the_first_is_answered_from_the_cache_without_a_read() -> None:
    device = uuid4()
    source = FakeSource(stored={(T1, device): (7, "frame-7")})
    async with running(source) as feed:
        assert await feed.fetch(T1, device) == (7, "frame-7")
        assert await feed.fetch(T1, device) == (7, "frame-7")
    assert (source.currents, source.reads, source.recomputed) == ([T1], [], [])


async def test_frames_computed_or_delivered_here_are_what_the_next_opening_gets() -> None:
    changed, delivered = uuid4(), uuid4()
    source = FakeSource(
        stored={(T1, changed): (1, "frame-1"), (T1, delivered): (1, "frame-1")}, version=1
    )
    async with running(source) as feed:
        for device in (changed, delivered):
            assert await feed.fetch(T1, device) == (1, "frame-1")
        feed.refresh(T1, DeviceScope.devices(changed))  # a change committed on this node
        await settled(feed)
        assert await feed.fetch(T1, changed) == (2, "frame-2")
        assert (source.currents, source.reads) == ([T1], [])  # the first opening only
        source.stored[(T1, delivered)] = (5, "frame-5")  # another node's, then its notice
        feed.deliver(T1, [(delivered, Session())])  # type: ignore[list-item]
        await settled(feed)
        reads = len(source.reads)
        assert await feed.fetch(T1, delivered) == (5, "frame-5")
        assert len(source.reads) == reads  # from the cache


async def test_another_nodes_notice_makes_openings_read_again() -> None:
    one, other = uuid4(), uuid4()
    source = FakeSource(stored={(T1, one): (1, "frame-1"), (T1, other): (1, "frame-1")})
    async with running(source) as feed:
        for device in (one, other):
            await feed.fetch(T1, device)
        source.stored[(T1, one)] = source.stored[(T1, other)] = (3, "frame-3")
        feed.forget(T1, [one])
        assert await feed.fetch(T1, one) == (3, "frame-3")
        assert await feed.fetch(T1, other) == (1, "frame-1")  # not named: still cached
        feed.forget(T1, None)
        assert await feed.fetch(T1, other) == (3, "frame-3")


async def test_the_cache_starts_over_past_its_bound() -> None:
    devices = [uuid4() for _ in range(3)]
    source = FakeSource(stored={(T1, d): (1, "frame-1") for d in devices}, version=1)
    async with running(source, cached_frames=3) as feed:
        for device in devices:
            await feed.fetch(T1, device)
        assert source.currents == [T1]
        feed.refresh(T1, DeviceScope.devices(uuid4()))  # one device more: past the bound
        await settled(feed)
        assert await feed.fetch(T1, devices[1]) == (1, "frame-1")
        assert source.currents == [T1, T1]  # read again, from the start


async def test_a_stale_cached_opening_is_corrected_by_the_registrations_delivery() -> None:
    # Another node stored a newer frame and its notice was lost: the opening is answered
    # from the (older) cache, and the delivery every registration asks for brings the new.
    device = uuid4()
    source = FakeSource(stored={(T1, device): (1, "frame-1")})
    index = Index()
    async with running_with(source, index) as feed:
        await feed.fetch(T1, device)
        source.stored[(T1, device)] = (4, "frame-4")
        session = await open_session(feed, index, device)
        await settled(feed)
    assert session.outbox.manifest_version == 4


async def test_a_schedule_change_racing_a_storm_reaches_every_screen() -> None:
    # A warm cache, then a change for every device while screens reconnect: those
    # opening before the change is stored, while it is being stored, and after it.
    devices = [uuid4() for _ in range(60)]
    source = FakeSource(stored={(T1, d): (1, "frame-1") for d in devices})
    index = Index()
    sessions: list[Session] = []
    async with running_with(source, index) as feed:
        for device in devices:
            await feed.fetch(T1, device)
        source.version = 1
        source.gates[T1] = anyio.Event()
        for device in devices[:20]:
            sessions.append(await open_session(feed, index, device))
        feed.refresh(T1, DeviceScope.devices(*devices))
        with anyio.fail_after(WAIT_S):
            await source.started.setdefault(T1, anyio.Event()).wait()
        async with anyio.create_task_group() as storm:
            for device in devices[20:40]:
                storm.start_soon(_opened_into, feed, index, device, sessions)
            await anyio.wait_all_tasks_blocked()
            source.gates[T1].set()
        for device in devices[40:]:
            sessions.append(await open_session(feed, index, device))
        await settled(feed)
    assert [s.outbox.manifest_version for s in sessions] == [2] * len(devices)


async def _opened_into(
    feed: ManifestFeed, index: Index, device_id: UUID, into: list[Session]
) -> None:
    into.append(await open_session(feed, index, device_id))


async def test_an_opening_waits_for_a_change_of_its_tenant_being_recomputed() -> None:
    device = uuid4()
    source = FakeSource(stored={(T1, device): (1, "frame-1")}, version=1)
    async with running(source) as feed:
        await feed.fetch(T1, device)
        source.gates[T1] = anyio.Event()
        feed.refresh(T1, DeviceScope.devices(device))
        with anyio.fail_after(WAIT_S):
            await source.started.setdefault(T1, anyio.Event()).wait()
        async with anyio.create_task_group() as tasks:
            answers: list[tuple[int, str] | None] = []
            tasks.start_soon(_fetched_into, feed, device, answers)
            await anyio.wait_all_tasks_blocked()
            assert answers == []  # not the cached frame-1
            source.gates[T1].set()
    assert answers == [(2, "frame-2")]


async def _fetched_into(
    feed: ManifestFeed, device_id: UUID, into: list[tuple[int, str] | None]
) -> None:
    into.append(await feed.fetch(T1, device_id))


async def test_a_tenants_first_openings_read_it_whole_and_compute_the_unplanned_at_once() -> None:
    planned, unplanned = [uuid4() for _ in range(3)], [uuid4() for _ in range(3)]
    source = FakeSource(
        stored={(T1, d): (2, "frame-2") for d in planned}, unplanned={T1: unplanned}, version=2
    )
    async with running(source) as feed:
        async with anyio.create_task_group() as storm:
            answers: list[tuple[int, str] | None] = []
            for device in (*planned, *unplanned):
                storm.start_soon(_fetched_into, feed, device, answers)
        assert (
            sorted(a for a in answers if a is not None)
            == [(2, "frame-2")] * 3 + [(3, "frame-3")] * 3
        )
        assert await feed.fetch(T1, unplanned[0]) == (3, "frame-3")  # cached
    assert source.currents == [T1]
    assert source.recomputed == [(T1, DeviceScope.devices(*unplanned))]
    assert source.reads == []


async def test_openings_that_waited_for_the_warm_up_are_answered_from_the_cache() -> None:
    first, later = uuid4(), uuid4()
    source = FakeSource(unplanned={T1: [first, later]}, gates={T1: anyio.Event()})
    async with running(source) as feed:
        async with anyio.create_task_group() as tasks:
            answers: list[tuple[int, str] | None] = []
            tasks.start_soon(_fetched_into, feed, first, answers)
            with anyio.fail_after(WAIT_S):
                await source.started.setdefault(T1, anyio.Event()).wait()  # warming up
            tasks.start_soon(_fetched_into, feed, later, answers)
            await anyio.wait_all_tasks_blocked()
            source.gates[T1].set()
        assert answers == [(1, "frame-1"), (1, "frame-1")]
    assert (source.currents, source.reads) == ([T1], [])


async def test_a_failed_recomputation_and_its_deliveries_are_retried_at_the_next_tick() -> None:
    """PostgreSQL went away after a change committed: the change still reaches the screen
    at the next tick (not at the next horizon step), and so does the delivery its job held."""
    changed, behind = uuid4(), uuid4()
    source = FakeSource(fail_next=True, stored={(T1, behind): (3, "frame-3")})
    index = Index({changed: Session()})
    waiting = Session()
    async with running_with(source, index, tick_s=0.05) as feed:
        feed.refresh(T1, DeviceScope.devices(changed))
        feed.deliver(T1, [(behind, waiting)])  # type: ignore[list-item]  # the same job

        def both_arrived() -> bool:
            versions = (
                index.connected[changed].outbox.manifest_version,
                waiting.outbox.manifest_version,
            )
            return versions == (1, 3)

        await eventually(both_arrived, timeout_s=WAIT_S)
    assert source.recomputed == [(T1, DeviceScope.devices(changed))] * 2  # failed, then retried
    assert index.connected[changed].outbox.pop() == "frame-1"
    assert waiting.outbox.pop() == "frame-3"
