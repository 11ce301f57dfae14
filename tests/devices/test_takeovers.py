"""Takeovers told to the other nodes: a round's sessions in one relay message per tenant
(chunked), the newest session of a device winning, and what arrives while a publish is
on its way carried by the next round, not lost. On the receiving node, only an older
session gives way: a late word about the session a newer one replaced closes nothing."""

from __future__ import annotations

from uuid import UUID, uuid4

import anyio
import msgspec
import pytest

from actors.events import SessionsTakenOver
from actors.node.messages import SessionsAnswer, SessionsQuery
from actors.node.presence import LocalPresence
from actors.node.takeovers import Takeovers
from actors.node.wiring import NodeSessions
from actors.ports.sessions import SessionIdentity
from actors.protocol import CloseCode
from actors.relay import LocalRelay
from actors.runtime import Runtime
from actors.services.reconciler import Reconciler
from tests.devices.test_device_actor import FakeSocket, NoAcks, NoOpening
from tests.devices.test_reconciler import GatedDirectory
from tests.waiting import eventually

pytestmark = pytest.mark.anyio


class RecordingRelay:
    """The other nodes, as a list of what was published; ``gate`` holds a publish."""

    def __init__(self) -> None:
        self.published: list[tuple[UUID, SessionsTakenOver]] = []
        self.gate: anyio.Event | None = None
        self.waiting = anyio.Event()

    async def publish(self, tenant_id: UUID, message: msgspec.Struct) -> bool:
        assert isinstance(message, SessionsTakenOver)
        if self.gate is not None:
            self.waiting.set()
            await self.gate.wait()
        self.published.append((tenant_id, message))
        return True

    def sessions(self) -> dict[UUID, tuple[UUID, float]]:
        return {d: (s, at) for _t, m in self.published for d, s, at in m.sessions}


def session(tenant_id: UUID, device_id: UUID | None = None) -> SessionIdentity:
    return SessionIdentity(
        device_id=device_id or uuid4(), tenant_id=tenant_id, groups=(), timezone="UTC"
    )


def told(sessions: list[SessionIdentity]) -> dict[UUID, tuple[UUID, float]]:
    return {s.device_id: (s.session_id, s.opened_at) for s in sessions}


async def test_a_rounds_sessions_go_in_one_message_per_tenant_chunked() -> None:
    relay = RecordingRelay()
    takeovers = Takeovers(relay, max_batch=500)
    tenant_a, tenant_b = uuid4(), uuid4()
    opened = [session(tenant_a) for _ in range(1200)] + [session(tenant_b) for _ in range(3)]
    for one in opened:
        takeovers.announce(one)
    async with anyio.create_task_group() as tg:
        await tg.start(takeovers.run)
        await eventually(lambda: takeovers.announced == len(opened), timeout_s=5)
        takeovers.stop()
    sizes = sorted((t == tenant_a, len(m.sessions)) for t, m in relay.published)
    assert sizes == [(False, 3), (True, 200), (True, 500), (True, 500)]
    assert relay.sessions() == told(opened)


async def test_the_newest_session_of_a_device_wins() -> None:
    relay = RecordingRelay()
    takeovers = Takeovers(relay)
    tenant, device = uuid4(), uuid4()
    older, newer = session(tenant, device), session(tenant, device)
    takeovers.announce(older)
    takeovers.announce(newer)
    async with anyio.create_task_group() as tg:
        await tg.start(takeovers.run)
        await eventually(lambda: takeovers.published == 1, timeout_s=5)
        takeovers.stop()
    assert relay.sessions() == told([newer])


async def test_what_arrives_during_a_publish_goes_with_the_next_round() -> None:
    relay = RecordingRelay()
    relay.gate = anyio.Event()
    takeovers = Takeovers(relay)
    tenant = uuid4()
    first = session(tenant)
    later = [session(tenant) for _ in range(20)]
    async with anyio.create_task_group() as tg:
        await tg.start(takeovers.run)
        takeovers.announce(first)
        with anyio.fail_after(5):
            await relay.waiting.wait()  # the first round's publish is on its way
        for one in later:
            takeovers.announce(one)
        relay.gate.set()
        await eventually(lambda: takeovers.announced == 21, timeout_s=5)
        takeovers.stop()
    assert [len(m.sessions) for _t, m in relay.published] == [1, 20]
    assert relay.sessions() == told([first, *later])


async def test_a_word_about_an_older_session_closes_nothing_a_newer_one_closes_4409() -> None:
    tenant_id = uuid4()
    here = session(tenant_id)
    reconciler = Reconciler(GatedDirectory({}))
    sessions = NodeSessions(
        Runtime(services=(reconciler,)),
        relay=LocalRelay("n1"),
        reconciler=reconciler,
        opening=NoOpening(),
        acks=NoAcks(),
        presence=LocalPresence("n1"),
    )
    device = here.device_id
    async with anyio.create_task_group() as tg:
        await tg.start(sessions.runtime.run)
        socket = FakeSocket()
        sessions.open(here, socket, last_seq=None)
        tenant = sessions.tenant(tenant_id)

        async def held() -> bool:
            answer = await tenant.ask(SessionsQuery(), reply=SessionsAnswer)
            return device in answer.device_ids

        await eventually(held, timeout_s=10)
        # Late: the session this one replaced, opened elsewhere a second earlier.
        tenant.tell(SessionsTakenOver(((device, uuid4(), here.opened_at - 1.0),)))
        assert await held()
        assert socket.closed is None
        # The screen opened a newer session on another node.
        tenant.tell(SessionsTakenOver(((device, uuid4(), here.opened_at + 1.0),)))
        await eventually(lambda: socket.closed is not None, timeout_s=10)
        assert socket.closed == CloseCode.REPLACED
        assert not await held()
        sessions.runtime.stop()
