"""Admission control: past what a node can take, a screen gets 503 with Retry-After before
the upgrade, at once, instead of waiting in a queue."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import anyio
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from actors.settings import Settings
from edge.admission import Admission
from tests.auth.conftest import FAST_HASHING
from tests.conftest import make_settings
from tests.devices.conftest import DEVICE_TIMERS, Screen
from tests.devices.test_device_socket import opened

pytestmark = pytest.mark.anyio

Approve = Callable[..., Awaitable[Screen]]
WAIT_S = 5.0


def test_the_bounds_and_the_spread_retry_delays() -> None:
    held = [0]
    admission = Admission(
        max_sessions=3, max_opening=2, sessions=lambda: held[0], jitter=lambda: 0.99
    )
    assert admission.admit() is None
    assert admission.admit() is None
    busy = admission.admit()
    assert busy is not None
    assert (busy.title, busy.retry_after_s) == ("Node busy", 2)
    admission.opened()
    held[0] = 2  # two open sessions + one opening = the node's maximum
    full = admission.admit()
    assert full is not None
    assert (full.title, full.retry_after_s) == ("Node full", 10)
    assert admission.refused == 2
    admission.opened()
    admission.opened()  # never below zero
    assert admission.opening == 0


@pytest.fixture
def settings(db_clean: str) -> Settings:
    timers = {**DEVICE_TIMERS, "ws_hello_timeout_s": 10.0}
    return make_settings(db_clean, ws_max_opening=1, ws_max_sessions=2, **FAST_HASHING, **timers)


async def _refused(url: str, screen: Screen) -> InvalidStatus:
    with anyio.fail_after(WAIT_S), pytest.raises(InvalidStatus) as refused:
        async with connect(url, additional_headers=screen.auth):
            pass
    return refused.value


async def test_a_screen_past_the_opening_bound_gets_503_before_the_upgrade(
    ws_url: str, approved: Approve
) -> None:
    slow, other = await approved("Slow"), await approved("Other")
    async with connect(ws_url) as opening:  # upgraded, authenticating: the one opening slot
        refused = await _refused(ws_url, other)
        assert refused.response.status_code == 503
        assert refused.response.headers["Retry-After"] in {"1", "2"}
        assert json.loads(refused.response.body or b"{}")["title"] == "Node busy"
        await opening.send(json.dumps({"type": "hello", "token": slow.secret}))
        await opened(opening)
        async with connect(ws_url, additional_headers=other.auth) as admitted:
            await opened(admitted)


async def test_a_full_node_refuses_more_sessions(ws_url: str, approved: Approve) -> None:
    screens = [await approved(f"S{i}") for i in range(3)]
    async with connect(ws_url, additional_headers=screens[0].auth) as a:
        await opened(a)  # one at a time: the opening bound is 1 here
        async with connect(ws_url, additional_headers=screens[1].auth) as b:
            await opened(b)
            refused = await _refused(ws_url, screens[2])
            assert refused.response.status_code == 503
            assert json.loads(refused.response.body or b"{}")["title"] == "Node full"
