"""A screen whose credentials are revoked, deleted or rotated after its handshake checked
them but before its session registered with its tenant actor is refused (4401) when it
registers, not left open until the reconciliation (actors/node/recent_revocations.py).

The window is held open deterministically: the node's credential lookup is wrapped so
that, once PostgreSQL has answered for the screen, the handshake waits for the test; the
test revokes (the notice reaches the tenant actor first), then lets the handshake go on.

A notice this node's tenant actor never heard (published before it subscribed: the
tenant's first session here, e.g. right after a restart) is covered by a second read of
the credentials (actors/services/credential_rechecks.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from quart import Quart
from websockets.asyncio.client import ClientConnection, connect

from actors.domain.devices import Credential
from actors.node import tenant_actor
from actors.protocol import CloseCode
from tests.auth.conftest import Caller, container_of
from tests.devices.conftest import Screen
from tests.devices.test_device_socket import WAIT_S, closed_with, frame, opened

pytestmark = pytest.mark.anyio

Approve = Callable[..., Awaitable[Screen]]


class HeldLookups:
    """Holds every handshake between its credential read and the rest of its opening."""

    def __init__(self, app: Quart, monkeypatch: pytest.MonkeyPatch) -> None:
        lookups = container_of(app).credentials
        self._real = lookups.credential
        self.checked = anyio.Event()
        self.release = anyio.Event()
        monkeypatch.setattr(lookups, "credential", self._held)

    async def _held(self, secret: str) -> Credential:
        found = await self._real(secret)  # PostgreSQL answered: the device may connect
        self.checked.set()
        with anyio.fail_after(WAIT_S):
            await self.release.wait()
        return found


@asynccontextmanager
async def held_open(
    app: Quart, monkeypatch: pytest.MonkeyPatch, ws_url: str, screen: Screen
) -> AsyncIterator[tuple[ClientConnection, HeldLookups]]:
    """A screen connecting, its handshake held right after its secret was checked."""
    held = HeldLookups(app, monkeypatch)
    async with connect(ws_url, additional_headers=screen.auth) as ws:
        with anyio.fail_after(WAIT_S):
            await held.checked.wait()
        yield ws, held


async def refused(ws: ClientConnection) -> None:
    """Told ``welcome`` (sent before registering), then ``revoked`` and 4401: no manifest."""
    assert (await frame(ws))["type"] == "welcome"
    assert (await frame(ws))["type"] == "revoked"
    assert await closed_with(ws) == CloseCode.UNAUTHORIZED


@pytest.mark.parametrize("how", ["revoke", "bulk revoke", "delete"])
async def test_a_revocation_or_deletion_between_the_check_and_the_registration_refuses_it(
    app: Quart,
    monkeypatch: pytest.MonkeyPatch,
    ws_url: str,
    approved: Approve,
    manager: Caller,
    tenant: dict[str, Any],
    how: str,
) -> None:
    screen = await approved()
    devices = f"/api/v1/tenants/{tenant['id']}/devices"
    async with held_open(app, monkeypatch, ws_url, screen) as (ws, held):
        if how == "revoke":
            response = await manager.post(f"{devices}/{screen.device_id}/revoke")
        elif how == "bulk revoke":
            response = await manager.post(f"{devices}/revoke", {"device_ids": [screen.device_id]})
        else:
            response = await manager.delete(f"{devices}/{screen.device_id}")
        assert response.status_code in (200, 204)
        held.release.set()
        await refused(ws)


async def test_a_rotation_refuses_the_old_secret_still_opening_and_the_new_one_connects(
    app: Quart,
    monkeypatch: pytest.MonkeyPatch,
    ws_url: str,
    approved: Approve,
    manager: Caller,
    tenant: dict[str, Any],
) -> None:
    screen = await approved()
    async with held_open(app, monkeypatch, ws_url, screen) as (ws, held):
        path = f"/api/v1/tenants/{tenant['id']}/devices/{screen.device_id}/rotate-secret"
        response = await manager.post(path)
        assert response.status_code == 200
        new_secret = (await response.get_json())["device_secret"]
        held.release.set()
        await refused(ws)
    # The record names the old secret only: the new one opens a session at once.
    async with connect(ws_url, additional_headers={"Authorization": f"Bearer {new_secret}"}) as ws:
        await opened(ws)


async def test_a_revocation_published_before_this_node_subscribed_closes_it_on_recheck(
    app: Quart,
    monkeypatch: pytest.MonkeyPatch,
    ws_url: str,
    approved: Approve,
    manager: Caller,
    tenant: dict[str, Any],
) -> None:
    """The tenant's first session on this node: its handshake read the secret before the
    tenant actor existed, and the revocation's notice went out (to the relay only, as
    another node's would) before that actor subscribed: nobody here heard it. The session
    registers, is rechecked, and is closed as a revocation closes it."""
    screen = await approved()
    node = container_of(app)
    registry = node.runtime.registry
    devices = f"/api/v1/tenants/{tenant['id']}/devices"
    async with held_open(app, monkeypatch, ws_url, screen) as (ws, held):
        assert registry.get(tenant_actor.KIND, str(tenant["id"])) is None
        with monkeypatch.context() as patched:
            # As on another node: the notice goes to the relay, no tenant actor here hears it.
            patched.setattr(node.events, "publish", node.relay.publish)
            response = await manager.post(f"{devices}/{screen.device_id}/revoke")
            assert response.status_code == 200
        held.release.set()
        assert (await frame(ws))["type"] == "welcome"
        seen = await frame(ws)
        if seen["type"] == "manifest":  # the opening may be under way when the recheck ends
            seen = await frame(ws)
        assert seen["type"] == "revoked"
        assert await closed_with(ws) == CloseCode.UNAUTHORIZED
    rechecks = node.metrics.registry.get_sample_value(
        "signage_session_rechecks_total", {"result": "refused"}
    )
    assert rechecks == 1
