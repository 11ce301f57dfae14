"""Device sessions are logged when they open, when they are refused and when they end."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from quart import Quart
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.devices.conftest import Screen
from tests.emergencies.conftest import Connect
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

SESSION_LOGGER = "edge.device_socket"
WAIT_S = 5.0


def session_lines(caplog: pytest.LogCaptureFixture, prefix: str) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == SESSION_LOGGER and r.getMessage().startswith(prefix)
    ]


async def test_a_session_is_logged_when_it_opens_and_when_the_screen_leaves(
    app: Quart,
    approved: Any,
    play: Connect,
    tenant: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=SESSION_LOGGER)
    screen: Screen = await approved()
    async with play(screen):
        (opened,) = session_lines(caplog, "session opened")
        assert opened.__dict__["device"] == screen.device_id
        assert opened.__dict__["tenant"] == tenant["id"]
        assert opened.__dict__["client"] == "127.0.0.1"
    await eventually(lambda: bool(session_lines(caplog, "session closed")), timeout_s=WAIT_S)
    (closed,) = session_lines(caplog, "session closed")
    assert closed.__dict__["device"] == screen.device_id
    assert closed.__dict__["session"] == opened.__dict__["session"]
    assert closed.__dict__["code"] is None  # the screen left; the server closed nothing
    assert closed.__dict__["duration_s"] >= 0


async def test_a_refused_session_is_logged_with_its_reason(
    app: Quart, ws_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=SESSION_LOGGER)
    async with connect(ws_url, additional_headers={"Authorization": "Bearer nope"}) as ws:
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    await eventually(lambda: bool(session_lines(caplog, "session refused")), timeout_s=WAIT_S)
    (refused,) = session_lines(caplog, "session refused")
    assert refused.__dict__["reason"] == "unknown device secret"
    assert "nope" not in repr(refused.__dict__)
