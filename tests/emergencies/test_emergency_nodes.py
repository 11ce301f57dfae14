"""Emergencies across nodes in one process (real runtimes and PostgreSQL, a partitionable
in-process relay): the relay path, catch-up after a partition, a relay gap or a sequence
gap, expiry raced by every node, acks in batches, urgent frames ahead of manifests, and a
tenant actor's successor regaining its sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from uuid import UUID

import anyio
import psycopg
import pytest

from actors.domain.emergencies import EmergencyStarted
from actors.domain.targets import TenantTarget
from actors.node.device_actor import DeviceActor
from actors.node.messages import Flush
from actors.node.opening import idle_manifest
from actors.node.outbox import Outbox
from actors.protocol import ManifestFrame, encode_text
from actors.relay import LocalHub
from tests.emergencies.nodes import (
    WAIT_S,
    Node,
    operator,
    running_node,
    seed_tenant,
    trigger,
)
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

#: Long enough that no periodic check happens during a test that must not rely on it.
NO_PERIODIC_CHECK_S = 600.0


@pytest.fixture
def hub() -> LocalHub:
    return LocalHub()


async def nodes(
    stack: AsyncExitStack, url: str, hub: LocalHub, count: int, check_every_s: float
) -> list[Node]:
    return [
        await stack.enter_async_context(
            running_node(url, f"node-{i}", hub, check_every_s=check_every_s)
        )
        for i in range(count)
    ]


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


async def test_every_node_delivers_over_the_relay(
    db_clean: str, hub: LocalHub, stack: AsyncExitStack
) -> None:
    tenant_id, devices = seed_tenant(db_clean, 3)
    three = await nodes(stack, db_clean, hub, 3, NO_PERIODIC_CHECK_S)
    screens = [node.connect(tenant_id, device) for node, device in zip(three, devices, strict=True)]
    for screen in screens:
        await screen.until(lambda s: bool(s.of_type("manifest")))
    started = await trigger(three[0], tenant_id)
    for screen in screens:
        [frame] = await screen.emergencies(1)
        assert frame["id"] == str(started.id)


async def test_a_partitioned_node_catches_up_from_postgresql(
    db_clean: str, hub: LocalHub, stack: AsyncExitStack
) -> None:
    tenant_id, (here, there) = seed_tenant(db_clean, 2)
    a, b = await nodes(stack, db_clean, hub, 2, check_every_s=0.2)
    near, far = a.connect(tenant_id, here), b.connect(tenant_id, there)
    await far.until(lambda s: bool(s.of_type("manifest")))
    hub.partition(b.relay)  # Redis gone for node b
    started = await trigger(a, tenant_id)
    assert (await near.emergencies(1))[0]["id"] == str(started.id)
    with anyio.fail_after(2.0):  # a few check periods at most
        assert (await far.emergencies(1))[0]["id"] == str(started.id)
    await a.emergencies.clear(operator(tenant_id), tenant_id, started.id)
    assert (await far.emergencies(2))[1] == {
        "type": "emergency_clear",
        "id": str(started.id),
        "seq": 2,
    }


async def test_an_emergency_the_relay_lost_is_read_once_by_the_watch_and_shown(
    db_clean: str, hub: LocalHub, stack: AsyncExitStack
) -> None:
    """One pass: the watch finds the tenant actor behind PostgreSQL's head, reads the
    missed outbox row itself and tells the actor once (its only message: it asks for
    nothing, and the checks that find it level tell it nothing)."""
    tenant_id, (here, there) = seed_tenant(db_clean, 2)
    a, b = await nodes(stack, db_clean, hub, 2, check_every_s=0.2)
    a.connect(tenant_id, here)
    far = b.connect(tenant_id, there)
    await far.until(lambda s: bool(s.of_type("manifest")))
    ticks = b.watch.ticks
    await eventually(lambda: b.watch.ticks > ticks + 1)  # the tenant actor is level
    reads, snapshots = b.feed.outbox_reads, b.feed.snapshots
    handled = _tenant_messages(b, tenant_id)
    caught_up = b.metrics.sample("signage_emergency_caught_up_total") or 0.0
    catch_ups = b.metrics.sample("signage_emergency_catch_ups_total", result="ok") or 0.0
    hub.partition(b.relay)  # the relay message to node b is lost; no gap is reported
    started = await trigger(a, tenant_id)
    with anyio.fail_after(2.0):  # a few check periods at most
        assert (await far.emergencies(1))[0]["id"] == str(started.id)
    ticks = b.watch.ticks
    await eventually(lambda: b.watch.ticks > ticks + 1)  # nothing more to read
    assert b.feed.outbox_reads - reads == 1
    assert b.feed.snapshots == snapshots
    assert _tenant_messages(b, tenant_id) - handled == 1  # the CaughtUp
    assert b.metrics.sample("signage_emergency_caught_up_total") == caught_up + 1
    assert b.metrics.sample("signage_emergency_catch_ups_total", result="ok") == catch_ups + 1
    assert len(far.of_type("emergency")) == 1


def _tenant_messages(node: Node, tenant_id: UUID) -> int:
    """How many messages the node's tenant actor of ``tenant_id`` has handled."""
    snapshot = node.runtime.registry.snapshot("tenant", str(tenant_id))
    assert snapshot is not None
    return snapshot.processed


async def test_a_relay_gap_catches_up_at_once(
    db_clean: str, hub: LocalHub, stack: AsyncExitStack
) -> None:
    tenant_id, (here, there) = seed_tenant(db_clean, 2)
    a, b = await nodes(stack, db_clean, hub, 2, NO_PERIODIC_CHECK_S)
    a.connect(tenant_id, here)
    far = b.connect(tenant_id, there)
    await far.until(lambda s: bool(s.of_type("manifest")))
    hub.partition(b.relay)
    started = await trigger(a, tenant_id)
    hub.heal(b.relay)  # the relay's reconnect: every subscriber gets on_gap
    assert (await far.emergencies(1))[0]["id"] == str(started.id)


async def test_a_sequence_gap_catches_up_what_was_skipped(
    db_clean: str, hub: LocalHub, stack: AsyncExitStack
) -> None:
    tenant_id, (here, there) = seed_tenant(db_clean, 2)
    a, b = await nodes(stack, db_clean, hub, 2, NO_PERIODIC_CHECK_S)
    a.connect(tenant_id, here)
    far = b.connect(tenant_id, there)
    await far.until(lambda s: bool(s.of_type("manifest")))
    hub.partition(b.relay)
    first = await trigger(a, tenant_id, message="first")
    second = await trigger(a, tenant_id, message="second")
    # Only the second one reaches node b: it sees number 2 after 0, and reads number 1.
    b.runtime.registry.tell("tenant", str(tenant_id), _started(second.id, second.seq, "second"))
    frames = await far.emergencies(2)
    assert {f["id"] for f in frames} == {str(first.id), str(second.id)}


async def test_expiry_raced_by_every_node_ends_the_emergency_once(
    db_clean: str, hub: LocalHub, stack: AsyncExitStack
) -> None:
    tenant_id, devices = seed_tenant(db_clean, 3)
    three = await nodes(stack, db_clean, hub, 3, check_every_s=0.1)
    screens = [node.connect(tenant_id, device) for node, device in zip(three, devices, strict=True)]
    started = await trigger(three[0], tenant_id, expires_in_s=1)
    for screen in screens:
        frames = await screen.emergencies(2, timeout=4.0)
        assert frames[1] == {"type": "emergency_clear", "id": str(started.id), "seq": 2}
    with psycopg.connect(db_clean) as conn:
        kinds = conn.execute(
            "SELECT kind FROM emergency_events WHERE tenant_id = %s ORDER BY seq", (tenant_id,)
        ).fetchall()
        audited = conn.execute(
            "SELECT count(*) FROM audit_log WHERE action = 'emergency.expire'"
        ).fetchone()
    assert kinds == [("started",), ("expired",)]
    assert audited == (1,)


async def test_acks_are_stored_in_batches_and_foreign_ones_dropped(
    db_clean: str, hub: LocalHub, stack: AsyncExitStack
) -> None:
    tenant_id, devices = seed_tenant(db_clean, 3)
    other_tenant, (stranger,) = seed_tenant(db_clean, 1)
    [node] = await nodes(stack, db_clean, hub, 1, NO_PERIODIC_CHECK_S)
    screens = [node.connect(tenant_id, device) for device in devices]
    started = await trigger(node, tenant_id)
    for screen in screens:
        await screen.emergencies(1)
    at = _now()
    for device in devices:
        node.acks.emergency_acked(tenant_id, device, started.id, at)
        node.acks.emergency_acked(tenant_id, device, started.id, at)  # a repeat
    node.acks.emergency_acked(other_tenant, stranger, started.id, at)  # not its tenant's
    assert len(node.acks) == 4
    assert await node.acks.flush() == 3
    detail = await node.emergencies.get(operator(tenant_id), tenant_id, started.id)
    assert detail.delivery.delivered == 3
    assert detail.delivery.p50_ms is not None


async def test_urgent_frames_jump_ahead_of_queued_manifests(
    db_clean: str, hub: LocalHub, stack: AsyncExitStack
) -> None:
    tenant_id, (device,) = seed_tenant(db_clean, 1)
    [node] = await nodes(stack, db_clean, hub, 1, NO_PERIODIC_CHECK_S)
    screen = node.connect(tenant_id, device)
    await screen.until(lambda s: bool(s.of_type("manifest")))
    actor = node.device(device)
    outbox = _outbox_of(node, device)
    screen.gate = anyio.Event()  # the screen stops reading
    outbox.put_normal('{"type":"error","detail":"in flight"}')
    actor.tell(Flush())
    with anyio.fail_after(WAIT_S):
        await screen.blocked.wait()  # the actor is stuck sending that one
    manifests = [encode_text(ManifestFrame.of(v, idle_manifest(_now()))) for v in (2, 3)]
    for frame in manifests:
        outbox.put_manifest(frame)  # queued behind the one in flight: the newest is kept
    for n in range(5):
        outbox.put_normal(f'{{"type":"error","detail":"{n}"}}')
    started = await trigger(node, tenant_id)
    screen.gate.set()
    await screen.until(lambda s: len(s.frames) >= 10)
    after = [f["type"] for f in screen.frames[2:]]
    assert after[:3] == ["error", "emergency", "manifest"]
    assert screen.frames[3]["id"] == str(started.id)
    assert screen.frames[4]["version"] == 3


async def test_a_tenant_actors_successor_regains_its_sessions(
    db_clean: str, hub: LocalHub, stack: AsyncExitStack
) -> None:
    tenant_id, (device,) = seed_tenant(db_clean, 1)
    [node] = await nodes(stack, db_clean, hub, 1, NO_PERIODIC_CHECK_S)
    screen = node.connect(tenant_id, device)
    first = await trigger(node, tenant_id, message="before")
    await screen.emergencies(1)
    tenant = node.runtime.registry.get("tenant", str(tenant_id))
    assert tenant is not None
    tenant.stop()
    await tenant.join(2.0)
    second = await trigger(node, tenant_id, message="after")  # spawns the successor
    frames = await screen.emergencies(2)
    assert [f["id"] for f in frames] == [str(first.id), str(second.id)]


# -- helpers -------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _started(emergency_id: UUID, seq: int, message: str) -> EmergencyStarted:
    return EmergencyStarted(
        id=emergency_id,
        seq=seq,
        message=message,
        severity="critical",
        target=TenantTarget(),
        started_at=_now(),
        expires_at=None,
    )


def _outbox_of(node: Node, device: UUID) -> Outbox:
    for cell in node.runtime.registry.cells():
        if cell.kind == "device" and cell.id == str(device):
            actor = cell.actor
            assert isinstance(actor, DeviceActor)
            return actor.outbox
    raise AssertionError(f"no device actor for {device}")
