"""The device actor and its outbox, with fake sockets: a screen that stops reading is
disconnected without holding up anyone else, and urgent frames jump the queue."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import anyio
import pytest

from actors.node.device_actor import DeviceActor
from actors.node.messages import (
    Flush,
    SessionClosed,
    SessionOpened,
    SessionRegistered,
    SessionsAnswer,
    SessionsQuery,
)
from actors.node.outbox import URGENT_LIMIT, Outbox
from actors.node.presence import LocalPresence
from actors.node.wiring import DEVICE_RESTART, NodeSessions
from actors.ports.sessions import Opening, SessionIdentity
from actors.protocol import CloseCode
from actors.relay import LocalRelay
from actors.runtime import Actor, ActorKind, ActorRef, Overflow, Runtime, handler
from actors.services.reconciler import Reconciler
from actors.settings import SessionSettings
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

WAIT_S = 5.0


class FakeSocket:
    """Records frames; with ``stalled`` set, every send blocks (a screen not reading)."""

    def __init__(self, *, stalled: bool = False) -> None:
        self.frames: list[dict[str, Any]] = []
        self.closed: int | None = None
        self.stalled = stalled
        self.changed = anyio.Event()

    async def send(self, frame: str) -> None:
        if self.stalled:
            await anyio.sleep_forever()
        self.frames.append(json.loads(frame))
        self.changed.set()

    async def close(self, code: int, reason: str) -> None:
        self.closed = code
        self.changed.set()

    def send_nowait(self, frame: str) -> bool:
        return False  # every frame takes the bounded path (that is what these tests test)

    def farewell_nowait(self, frame: str, code: int, reason: str) -> bool:
        return False  # the goodbye too (on_stop's send and close)

    async def wait_for(self, predicate: Any) -> None:
        with anyio.fail_after(WAIT_S):
            while not predicate(self):
                self.changed = anyio.Event()
                await self.changed.wait()


class Registrar(Actor):
    """Stands in for the tenant actor: keeps what device actors register."""

    def __init__(self, sessions: dict[UUID, SessionOpened]) -> None:
        self.sessions = sessions

    @handler(Overflow.NEVER_DROP)
    async def opened(self, msg: SessionOpened) -> SessionRegistered:
        self.sessions[msg.identity.device_id] = msg
        return SessionRegistered()

    @handler(Overflow.NEVER_DROP)
    async def closed(self, msg: SessionClosed) -> None:
        self.sessions.pop(msg.device_id, None)


class NoOpening:
    async def opening(self, device: SessionIdentity, last_seq: int | None) -> Opening:
        return Opening()


class NoAcks:
    def emergency_acked(self, tenant_id: UUID, device_id: UUID, e: UUID, at: datetime) -> None:
        pass

    def manifest_acked(self, tenant_id: UUID, device_id: UUID, v: int, at: datetime) -> None:
        pass


#: What the stand-in tenant actors registered, by device (one test at a time).
REGISTERED: dict[UUID, SessionOpened] = {}


@pytest.fixture
async def runtime() -> AsyncIterator[Runtime]:
    REGISTERED.clear()
    rt = Runtime()
    rt.register(ActorKind(name="tenant", factory=lambda _id: Registrar(REGISTERED)))
    rt.register(ActorKind(name="device", restart=DEVICE_RESTART))
    async with anyio.create_task_group() as tg:
        await tg.start(rt.run)
        yield rt
        rt.stop()


def _device(runtime: Runtime, socket: FakeSocket, tenant_id: UUID) -> ActorRef:
    identity = SessionIdentity(device_id=uuid4(), tenant_id=tenant_id, groups=(), timezone="UTC")
    return runtime.registry.spawn(
        "device",
        str(identity.device_id),
        lambda: DeviceActor(
            identity,
            socket,
            tenant=lambda t: runtime.registry.get_or_spawn("tenant", str(t)),
            opening=NoOpening(),
            acks=NoAcks(),
            presence=LocalPresence("n1"),
            config=SessionSettings(send_timeout_s=0.3),
        ),
    )


async def _outbox(ref: ActorRef) -> Outbox:
    """The device's outbox, once the device actor has registered it (bounded poll)."""
    await eventually(lambda: UUID(ref.id) in REGISTERED, timeout_s=WAIT_S, every_s=0.005)
    outbox: Outbox = REGISTERED[UUID(ref.id)].outbox
    return outbox


async def test_a_screen_that_stops_reading_is_disconnected_and_holds_up_no_one(
    runtime: Runtime,
) -> None:
    tenant_id = uuid4()
    stalled, healthy = FakeSocket(stalled=True), FakeSocket()
    slow = _device(runtime, stalled, tenant_id)
    fast = _device(runtime, healthy, tenant_id)
    await healthy.wait_for(lambda s: s.frames)  # welcome: registered with its tenant
    # The stalled screen's welcome never leaves: its session must end on the send timeout.
    await stalled.wait_for(lambda s: s.closed is not None)
    assert stalled.closed == CloseCode.TRY_AGAIN_LATER
    with anyio.fail_after(WAIT_S):
        await slow.join()
    frame = '{"type":"emergency_clear","id":"00000000-0000-0000-0000-000000000000","seq":1}'
    (await _outbox(fast)).put_urgent(frame)
    fast.tell(Flush())
    await healthy.wait_for(lambda s: len(s.frames) == 2)


async def test_urgent_overflow_closes_the_session_instead_of_dropping(runtime: Runtime) -> None:
    socket = FakeSocket()
    ref = _device(runtime, socket, uuid4())
    await socket.wait_for(lambda s: s.frames)
    socket.stalled = True
    outbox = await _outbox(ref)
    for seq in range(URGENT_LIMIT + 1):
        outbox.put_urgent(json.dumps({"type": "emergency_clear", "seq": seq}))
    assert outbox.overflowed
    ref.tell(Flush())
    await socket.wait_for(lambda s: s.closed is not None)
    assert socket.closed == CloseCode.TRY_AGAIN_LATER


def test_urgent_frames_jump_ahead_of_manifests_and_only_the_newest_manifest_is_sent() -> None:
    outbox = Outbox()
    outbox.put_normal("note")
    for version in range(5):
        outbox.put_manifest(f"manifest-{version}")
    outbox.put_urgent("emergency")
    assert [outbox.pop() for _ in range(4)] == ["emergency", "manifest-4", "note", None]
    assert outbox.dropped == 4


def test_normal_lane_drops_oldest_when_full() -> None:
    outbox = Outbox(normal_limit=2)
    for i in range(4):
        outbox.put_normal(str(i))
    assert [outbox.pop(), outbox.pop(), outbox.pop()] == ["2", "3", None]


def test_the_direct_lane_writes_only_while_granted_and_never_past_a_queued_urgent_frame() -> None:
    outbox, written = Outbox(), []

    def write(frame: str) -> bool:
        written.append(frame)
        return True

    assert not outbox.send_now("closed")
    assert not outbox.direct.open
    outbox.direct.grant(write)
    assert outbox.send_now("first")
    assert written == ["first"]
    outbox.put_urgent("queued")  # the owner has work: a direct frame would overtake it
    assert not outbox.send_now("second")
    assert written == ["first"]
    assert outbox.pop() == "queued"
    outbox.direct.revoke()
    outbox.direct.revoke()  # idempotent
    assert not outbox.send_now("third")
    assert written == ["first"]


def test_the_direct_lane_reports_a_connection_that_would_block() -> None:
    outbox = Outbox()
    outbox.direct.grant(lambda frame: False)
    assert not outbox.send_now("frame")  # the caller queues it and wakes the owner


class DirectSocket(FakeSocket):
    """Takes frames without waiting unless ``stalled``."""

    def send_nowait(self, frame: str) -> bool:
        if self.stalled:
            return False
        self.frames.append(json.loads(frame))
        self.changed.set()
        return True

    def farewell_nowait(self, frame: str, code: int, reason: str) -> bool:
        if not self.send_nowait(frame):
            return False
        self.closed = code
        return True


async def test_an_idle_device_actor_grants_the_direct_lane_and_revokes_it_when_it_closes(
    runtime: Runtime,
) -> None:
    socket = DirectSocket()
    ref = _device(runtime, socket, uuid4())
    await socket.wait_for(lambda s: s.frames)  # welcome sent: idle now
    outbox = await _outbox(ref)
    await eventually(lambda: outbox.direct.open, timeout_s=WAIT_S, every_s=0.005)
    frame = '{"type":"emergency_clear","id":"00000000-0000-0000-0000-000000000000","seq":1}'
    assert outbox.send_now(frame)
    assert socket.frames[-1]["type"] == "emergency_clear"
    ref.stop()
    with anyio.fail_after(WAIT_S):
        await ref.join()
    assert not outbox.direct.open
    assert not outbox.send_now(frame)


class NoDirectory:
    async def allowed(self, tenant_id: UUID, device_ids: Any) -> dict[UUID, SessionIdentity]:
        return {}


def _node_sessions() -> NodeSessions:
    """A node's session machinery on a runtime of its own (not started)."""
    return NodeSessions(
        Runtime(),
        relay=LocalRelay("n1"),
        reconciler=Reconciler(NoDirectory()),
        opening=NoOpening(),
        acks=NoAcks(),
        presence=LocalPresence("n1"),
    )


async def test_a_reconnect_storm_registers_every_session_without_killing_the_tenant_actor(
    runtime: Runtime,
) -> None:
    """3,000 screens of one tenant open at once: the tenant actor's mailbox takes every
    registration (never-drop) instead of overflowing and dying with the tenant's sessions."""
    sessions = _node_sessions()
    storm = 3_000
    tenant_id = uuid4()
    async with anyio.create_task_group() as tg:
        await tg.start(sessions.runtime.run)
        sockets = [FakeSocket() for _ in range(storm)]
        for socket in sockets:
            identity = SessionIdentity(
                device_id=uuid4(), tenant_id=tenant_id, groups=(), timezone="UTC"
            )
            sessions.open(identity, socket, last_seq=None)

        async def all_registered() -> bool:
            answer = await sessions.tenant(tenant_id).ask(SessionsQuery(), reply=SessionsAnswer)
            return len(answer.device_ids) == storm

        await eventually(all_registered, timeout_s=60, every_s=0.05)
        tenant = sessions.runtime.registry.snapshot("tenant", str(tenant_id))
        assert tenant is not None
        assert tenant.restarts == 0
        assert all(s.closed is None for s in sockets)
        sessions.runtime.stop()


async def test_a_drain_tells_idle_screens_at_once_and_the_others_when_their_actor_stops() -> None:
    """``NodeSessions.drain``: a session idle now (its direct lane granted) gets
    ``reconnect`` and the close 1012 in the call itself, without a task or a timer of its
    own; one that is not idle (no fast path) gets them from its actor's ``on_stop``."""
    sessions = _node_sessions()
    tenant_id = uuid4()
    idle, slow = DirectSocket(), FakeSocket()
    async with anyio.create_task_group() as tg:
        await tg.start(sessions.runtime.run)
        refs = [
            sessions.open(
                SessionIdentity(device_id=uuid4(), tenant_id=tenant_id, groups=(), timezone="UTC"),
                socket,
                last_seq=None,
            )
            for socket in (idle, slow)
        ]

        def idle_now() -> bool:
            found = sessions.presence.sessions(tenant_id, [UUID(refs[0].id)])
            return bool(found) and found[0][1].outbox.direct.open

        await eventually(idle_now, timeout_s=WAIT_S, every_s=0.005)
        await slow.wait_for(lambda s: s.frames)  # welcome

        drained = sessions.drain()

        assert (drained.sessions, drained.at_once) == (2, 1)
        assert [f["type"] for f in idle.frames] == ["welcome", "reconnect"]
        assert idle.closed == CloseCode.SERVICE_RESTART  # before any actor ran again
        assert 0 <= idle.frames[-1]["after_ms"] <= SessionSettings().reconnect_spread_ms
        with anyio.fail_after(WAIT_S):
            for ref in refs:
                await ref.join()
        assert [f["type"] for f in idle.frames] == ["welcome", "reconnect"]  # told once
        assert [f["type"] for f in slow.frames] == ["welcome", "reconnect"]
        assert slow.closed == CloseCode.SERVICE_RESTART
        sessions.runtime.stop()
