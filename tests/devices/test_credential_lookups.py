"""Device-secret lookups of concurrent handshakes are one statement, against the real
PostgreSQL; unknown and revoked secrets are still told apart and refused."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, cast
from uuid import UUID

import anyio
import psycopg
import pytest
from quart import Quart
from websockets.asyncio.client import connect

from actors.domain.devices import Credential
from actors.errors import Unauthenticated
from actors.node.messages import SessionsAnswer, SessionsQuery
from actors.ports.uow import Tx, UnitOfWork
from actors.usecases.credentials import CredentialLookups
from edge.container import EXTENSION_KEY, Container
from store.uow import Store
from tests.devices.conftest import Screen
from tests.devices.test_device_socket import opened

pytestmark = pytest.mark.anyio

Approve = Callable[..., Awaitable[Screen]]


async def test_concurrent_lookups_are_one_statement(
    app: Quart, approved: Approve, store: Store, db_clean: str
) -> None:
    screens = [await approved(f"S{i}") for i in range(5)]
    with psycopg.connect(db_clean, autocommit=True) as conn:
        conn.execute(
            "UPDATE devices SET status = 'revoked', revoked_at = now() WHERE id = %s",
            (screens[4].device_id,),
        )
    lookups = CredentialLookups(store)
    found: dict[str, Credential | str] = {}

    async def look(secret: str) -> None:
        try:
            found[secret] = await lookups.credential(secret)
        except Unauthenticated:
            found[secret] = "unknown"

    unknown = "sds_" + "x" * 40
    async with anyio.create_task_group() as tg:
        for secret in [s.secret for s in screens] + [unknown]:
            tg.start_soon(look, secret)
    assert lookups.reads == 1
    assert lookups.looked_up == 6
    for screen in screens[:4]:
        credential = found[screen.secret]
        assert isinstance(credential, Credential)
        assert str(credential.device_id) == screen.device_id
        assert credential.may_connect
    revoked = found[screens[4].secret]
    assert isinstance(revoked, Credential)
    assert revoked.status == "revoked"
    assert not revoked.may_connect
    assert found[unknown] == "unknown"


class _HeldStore:
    """The store, with every transaction held until ``release`` is set (a slow read)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.release = anyio.Event()
        self.held = anyio.Event()

    @asynccontextmanager
    async def platform(self) -> AsyncIterator[Tx]:
        self.held.set()
        await self.release.wait()
        async with self._store.platform() as tx:
            yield tx


async def test_handshakes_arriving_during_a_read_share_the_next_one(
    app: Quart, approved: Approve, store: Store
) -> None:
    screens = [await approved(f"R{i}") for i in range(4)]
    held = _HeldStore(store)
    lookups = CredentialLookups(cast(UnitOfWork, held))
    found: list[Credential] = []

    async def look(secret: str) -> None:
        found.append(await lookups.credential(secret))

    async with anyio.create_task_group() as tg:
        tg.start_soon(look, screens[0].secret)
        with anyio.fail_after(5):
            await held.held.wait()  # the first read is under way
        for screen in screens[1:]:  # one at a time: each would have been a read of its own
            tg.start_soon(look, screen.secret)
            await anyio.wait_all_tasks_blocked()
        held.release.set()
    assert (lookups.reads, lookups.looked_up) == (2, 4)
    assert sorted(str(c.device_id) for c in found) == sorted(s.device_id for s in screens)


async def test_screens_connecting_together_share_a_read(
    app: Quart, ws_url: str, approved: Approve, tenant: dict[str, Any]
) -> None:
    node: Container = app.extensions[EXTENSION_KEY]
    screens = [await approved(f"T{i}") for i in range(8)]
    # The tenant actor subscribed first (its start is over once it answers): no handshake
    # began before, so none is read a second time (actors/services/credential_rechecks.py).
    await node.sessions.tenant(UUID(tenant["id"])).ask(SessionsQuery(), reply=SessionsAnswer)
    looked_up_before = node.credentials.looked_up

    async def session(screen: Screen) -> None:
        async with connect(ws_url, additional_headers=screen.auth) as ws:
            await opened(ws)

    async with anyio.create_task_group() as tg:
        for screen in screens:
            tg.start_soon(session, screen)
    # Every handshake resolved its secret through the batched lookups.
    assert node.credentials.looked_up - looked_up_before == len(screens)


async def test_a_recheck_reads_by_the_digest_in_the_handshakes_batch(
    app: Quart, approved: Approve, store: Store, db_clean: str
) -> None:
    """A session's recheck keeps its secret's digest, never the secret: the lookup by
    digest answers as the lookup by secret does, in the same batch."""
    from actors.domain.device_secret import hash_device_secret

    screen = await approved("S0")
    digest = hash_device_secret(screen.secret)
    assert digest is not None
    lookups = CredentialLookups(store)
    by: dict[str, Credential] = {}

    async def by_secret() -> None:
        by["secret"] = await lookups.credential(screen.secret)

    async def by_digest() -> None:
        by["digest"] = await lookups.credential_of(digest)

    async with anyio.create_task_group() as tg:
        tg.start_soon(by_secret)
        tg.start_soon(by_digest)
    assert by["digest"] == by["secret"]
    assert str(by["digest"].device_id) == screen.device_id
    assert lookups.reads == 1
    with pytest.raises(Unauthenticated):
        await lookups.credential_of(b"\0" * 32)
