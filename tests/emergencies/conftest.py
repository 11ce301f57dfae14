"""Emergency fixtures: the app on a real Hypercorn, screens registered and claimed through
the API, an emergency operator, and a WebSocket client that reads frames the way a
player does.

Reuses the device fixtures (``tests/devices/conftest.py``) and, through them, the admin
ones (platform admin, tenants, users, fast password hashing).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from websockets.asyncio.client import ClientConnection, connect

from actors.domain.rbac import Role
from actors.settings import Settings
from tests.auth.conftest import (  # noqa: F401 - fixtures re-exported for these tests
    FAST_HASHING,
    Caller,
    admin,
    new_tenant,
    new_user,
)
from tests.conftest import make_settings
from tests.devices.conftest import (  # noqa: F401 - fixtures re-exported for these tests
    Screen,
    app,
    approved,
    manager,
    register,
    tenant,
    ws_url,
)
from tests.waiting import polled

pytestmark = pytest.mark.anyio

WAIT_S = 5.0
#: Fast timers: catch-up and expiry checks every 0.2 s, acks written every 0.05 s; idle
#: sessions kept long enough for the slowest test.
EMERGENCY_TIMERS: dict[str, Any] = {
    "ws_hello_timeout_s": 1.0,
    "ws_idle_timeout_s": 30.0,
    "shutdown_grace_s": 2.0,
    "emergency_check_every_s": 0.2,
    "emergency_ack_flush_s": 0.05,
}

Approve = Callable[..., Awaitable[Screen]]


@pytest.fixture
def settings(db_clean: str) -> Settings:
    return make_settings(db_clean, **FAST_HASHING, **EMERGENCY_TIMERS)


@pytest.fixture
async def operator(tenant: dict[str, Any], new_user: Callable[..., Awaitable[Caller]]) -> Caller:
    return await new_user(tenant["id"], Role.EMERGENCY_OPERATOR)


@pytest.fixture
async def viewer(tenant: dict[str, Any], new_user: Callable[..., Awaitable[Caller]]) -> Caller:
    return await new_user(tenant["id"], Role.VIEWER)


class Player:
    """A screen's session as a player sees it: frames in order, read with a timeout."""

    def __init__(self, ws: ClientConnection, screen: Screen) -> None:
        self.ws = ws
        self.screen = screen
        self.seen: list[dict[str, Any]] = []

    async def next(self, timeout: float = WAIT_S) -> dict[str, Any]:
        with anyio.fail_after(timeout):
            data = await self.ws.recv()
        assert isinstance(data, str), "the protocol uses text frames"
        frame: dict[str, Any] = json.loads(data)
        self.seen.append(frame)
        return frame

    async def next_of(self, *types: str, timeout: float = WAIT_S) -> dict[str, Any]:
        """The next frame of one of ``types``, skipping others (manifests...)."""
        with anyio.fail_after(timeout):
            while True:
                frame = await self.next(timeout)
                if frame["type"] in types:
                    return frame

    async def emergency(self, timeout: float = WAIT_S) -> dict[str, Any]:
        return await self.next_of("emergency", "emergency_clear", timeout=timeout)

    async def ack(self, emergency_id: str) -> None:
        await self.ws.send(json.dumps({"type": "ack", "emergency_id": emergency_id}))


Connect = Callable[..., Any]


@pytest.fixture
def play(ws_url: str) -> Connect:
    """``async with play(screen, last_seq=None) as player``: a live session that has read
    its ``welcome`` (authenticated by hello when ``last_seq`` is given, else by header)."""

    @asynccontextmanager
    async def session(screen: Screen, last_seq: int | None = None) -> AsyncIterator[Player]:
        headers = screen.auth if last_seq is None else None
        async with connect(ws_url, additional_headers=headers) as ws:
            if last_seq is not None:
                hello = {"type": "hello", "token": screen.secret, "last_seq": last_seq}
                await ws.send(json.dumps(hello))
            player = Player(ws, screen)
            welcome = await player.next()
            assert welcome["type"] == "welcome", welcome
            yield player

    return session


def emergencies_of(tenant: dict[str, Any]) -> str:
    return f"/api/v1/tenants/{tenant['id']}/emergencies"


async def trigger(caller: Caller, tenant: dict[str, Any], **body: Any) -> dict[str, Any]:
    """POST an emergency (``target`` defaults to everyone); the 201 body."""
    body.setdefault("message", "Evacuate via the north stairs")
    body.setdefault("severity", "critical")
    body.setdefault("target", {"all": True})
    response = await caller.post(emergencies_of(tenant), body)
    answer: dict[str, Any] = await response.get_json()
    assert response.status_code == 201, answer
    return answer


async def report_when(
    caller: Caller,
    tenant: dict[str, Any],
    emergency_id: str,
    done: Callable[[dict[str, Any]], bool],
    timeout: float = WAIT_S,
) -> dict[str, Any]:
    """Poll the emergency's report until ``done(delivery)`` holds (acks are written in
    batches: the report catches up within a flush)."""

    async def fetch() -> dict[str, Any]:
        response = await caller.get(f"{emergencies_of(tenant)}/{emergency_id}")
        body: dict[str, Any] = await response.get_json()
        assert response.status_code == 200, body
        return body

    return await polled(fetch, lambda body: done(body["delivery"]), timeout_s=timeout)
