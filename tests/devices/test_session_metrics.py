"""The opening of device sessions is observable: how many opened (its rate is the
reconnect-storm recovery rate) and how long each took from the upgrade request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from quart import Quart
from websockets.asyncio.client import connect

from edge.container import EXTENSION_KEY, Container
from tests.devices.conftest import Screen
from tests.devices.test_device_socket import opened

pytestmark = pytest.mark.anyio

Approve = Callable[..., Awaitable[Screen]]


async def test_each_opened_session_is_counted_and_timed(
    app: Quart, ws_url: str, approved: Approve
) -> None:
    node: Container = app.extensions[EXTENSION_KEY]
    metrics = node.metrics
    assert metrics.sample("signage_ws_opened_total") == 0
    screens = [await approved(f"M{i}") for i in range(2)]
    for screen in screens:
        async with connect(ws_url, additional_headers=screen.auth) as ws:
            await opened(ws)
    assert metrics.sample("signage_ws_opened_total") == 2
    assert metrics.sample("signage_ws_opening_seconds_count") == 2
    total = metrics.sample("signage_ws_opening_seconds_sum")
    assert total is not None
    assert 0 < total < 10
