"""Reconciliation with PostgreSQL, off the actors: a database outage crashes no tenant actor
and ends no session; what PostgreSQL says once it answers is applied.

The node reaches PostgreSQL through a TCP proxy, so the outage is real: the pool's
connections are cut and new ones refused, as when the database host goes away.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import UUID, uuid4

import anyio
import psycopg
import pytest
from quart import Quart
from websockets.asyncio.client import connect
from websockets.protocol import State

from actors.events import DeviceUpdated
from actors.node.messages import SessionsAnswer, SessionsQuery
from actors.node.presence import LocalPresence
from actors.node.tenant_actor import TenantActor
from actors.node.wiring import NodeSessions
from actors.ports.relay import Resync
from actors.ports.sessions import SessionIdentity
from actors.protocol import CloseCode
from actors.relay import LocalRelay
from actors.runtime import Runtime
from actors.services.reconciler import Reconciler
from actors.settings import ReconcileSettings, Settings
from edge.container import EXTENSION_KEY, Container
from tests.auth.conftest import FAST_HASHING
from tests.conftest import make_settings
from tests.devices.conftest import DEVICE_TIMERS, Screen
from tests.devices.test_device_actor import FakeSocket, NoAcks, NoOpening
from tests.devices.test_device_socket import closed_with, opened
from tests.pgurl import first_server, through
from tests.runtime.tcp_proxy import Proxy, running_proxy
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

Approve = Callable[..., Awaitable[Screen]]
WAIT_S = 20.0


@pytest.fixture
async def pg_proxy(db_clean: str) -> AsyncIterator[Proxy]:
    async with running_proxy(*first_server(db_clean)) as proxy:
        yield proxy


@pytest.fixture
def settings(db_clean: str, pg_proxy: Proxy) -> Settings:
    proxied = through(db_clean, pg_proxy.port)
    # A silent screen is not closed for idling while the test holds it through the outage.
    timers = {**DEVICE_TIMERS, "ws_idle_timeout_s": 120.0}
    return make_settings(proxied, db_connect_timeout_s=1.0, **FAST_HASHING, **timers)


def container(app: Quart) -> Container:
    node: Container = app.extensions[EXTENSION_KEY]
    return node


def tenant_restarts(node: Container, tenant_id: str) -> int:
    snapshot = node.runtime.snapshot("tenant", tenant_id)
    assert snapshot is not None, "the tenant actor is gone"
    return snapshot.restarts


async def outage(proxy: Proxy) -> None:
    proxy.refuse = True
    await proxy.cut()


async def test_a_database_outage_crashes_no_tenant_actor_and_ends_no_session(
    app: Quart, ws_url: str, approved: Approve, tenant: dict[str, Any], pg_proxy: Proxy
) -> None:
    node = container(app)
    screen = await approved()
    async with connect(ws_url, additional_headers=screen.auth) as ws:
        await opened(ws)
        await outage(pg_proxy)

        for round_ in range(1, 4):  # periodic rounds during the outage: each read fails
            node.reconciler.ask_all()
            await eventually(lambda: node.reconciler.failed >= round_, timeout_s=WAIT_S)  # noqa: B023
        assert tenant_restarts(node, tenant["id"]) == 0
        assert ws.state is State.OPEN
        with anyio.fail_after(5):
            await (await ws.ping())  # the session is alive, not re-registering
        answer = await node.sessions.tenant(UUID(tenant["id"])).ask(
            SessionsQuery(), reply=SessionsAnswer
        )
        assert answer.device_ids == (UUID(screen.device_id),)

        pg_proxy.refuse = False
        served = node.reconciler.served
        node.reconciler.ask_all()
        await eventually(lambda: node.reconciler.served > served, timeout_s=WAIT_S)
        assert tenant_restarts(node, tenant["id"]) == 0
        assert ws.state is State.OPEN


async def test_a_device_revoked_behind_the_nodes_back_is_closed_on_reconciliation(
    app: Quart, ws_url: str, approved: Approve, db_clean: str
) -> None:
    """The relay lost the revocation (here: it never sent one, the row changed in SQL)."""
    node = container(app)
    screen = await approved()
    async with connect(ws_url, additional_headers=screen.auth) as ws:
        await opened(ws)
        with psycopg.connect(db_clean, autocommit=True) as conn:
            conn.execute(
                "UPDATE devices SET status = 'revoked', revoked_at = now() WHERE id = %s",
                (screen.device_id,),
            )
        node.reconciler.ask_all()
        assert await closed_with(ws) == CloseCode.UNAUTHORIZED


class GatedDirectory:
    """PostgreSQL as it was when the read started, answered when the test says so."""

    def __init__(self, answer: dict[UUID, SessionIdentity]) -> None:
        self.answer = answer
        self.reading = anyio.Event()
        self.release = anyio.Event()

    async def allowed(self, tenant_id: UUID, device_ids: Any) -> dict[UUID, SessionIdentity]:
        self.reading.set()
        await self.release.wait()
        return self.answer


def tenant_actor(sessions: NodeSessions, tenant_id: UUID) -> TenantActor:
    for cell in sessions.runtime.registry.cells():
        if cell.kind == "tenant" and cell.id == str(tenant_id):
            assert isinstance(cell.actor, TenantActor)
            return cell.actor
    raise AssertionError("no tenant actor")


async def test_an_answer_older_than_a_regroup_leaves_the_session_as_the_event_set_it() -> None:
    """A read made before a ``device_updated`` event and answered after it must not undo
    the event (the answer is older than what the actor knows)."""
    tenant_id = uuid4()
    identity = SessionIdentity(
        device_id=uuid4(), tenant_id=tenant_id, groups=("a",), timezone="UTC"
    )
    directory = GatedDirectory({identity.device_id: identity})  # groups ("a",): stale
    reconciler = Reconciler(directory)
    sessions = NodeSessions(
        Runtime(services=(reconciler,)),
        relay=LocalRelay("n1"),
        reconciler=reconciler,
        opening=NoOpening(),
        acks=NoAcks(),
        presence=LocalPresence("n1"),
    )
    async with anyio.create_task_group() as tg:
        await tg.start(sessions.runtime.run)
        socket = FakeSocket()
        sessions.open(identity, socket, last_seq=None)
        tenant = sessions.tenant(tenant_id)

        async def registered() -> bool:
            return bool((await tenant.ask(SessionsQuery(), reply=SessionsAnswer)).device_ids)

        with anyio.fail_after(WAIT_S):
            await eventually(registered, timeout_s=WAIT_S, every_s=0.01)
            tenant.tell(Resync(reason="test"))
            await directory.reading.wait()
            tenant.tell(DeviceUpdated(device_id=identity.device_id, groups=("b",), timezone="UTC"))
            await tenant.ask(SessionsQuery(), reply=SessionsAnswer)  # the event is applied
            directory.release.set()
            await eventually(lambda: reconciler.served == 1)
            await tenant.ask(SessionsQuery(), reply=SessionsAnswer)  # the answer is applied
        actor = tenant_actor(sessions, tenant_id)
        assert actor.sessions[identity.device_id].groups == ("b",)
        assert socket.closed is None
        sessions.runtime.stop()


async def test_a_failed_read_is_retried_and_a_newer_request_replaces_it() -> None:
    class Down:
        calls = 0

        async def allowed(self, tenant_id: UUID, device_ids: Any) -> dict[UUID, SessionIdentity]:
            Down.calls += 1
            raise OSError("connection refused")

    now = [0.0]
    reconciler = Reconciler(Down(), config=ReconcileSettings(retry_s=5.0), clock=lambda: now[0])
    ref: Any = _Inbox()
    reconciler.request(uuid4(), ref, {}, 0)
    assert await reconciler.serve_due() == 5.0  # failed: due again in 5 s
    assert (reconciler.failed, len(reconciler)) == (1, 1)
    assert await reconciler.serve_due() == 5.0  # not due yet: not read again
    assert Down.calls == 1
    now[0] = 5.0
    await reconciler.serve_due()
    assert (Down.calls, reconciler.failed, ref.told) == (2, 2, [])


class _Inbox:
    def __init__(self) -> None:
        self.told: list[Any] = []

    def tell(self, message: Any) -> None:
        self.told.append(message)
