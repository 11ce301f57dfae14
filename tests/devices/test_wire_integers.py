"""Every integer a screen sends is bounded to what PostgreSQL's bigint holds (issue 14, L2):
a frame past it is a protocol error, and the batched manifest-ack write, shared by every
tenant's screens, drops only a bad row instead of failing the whole statement."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest
from websockets.asyncio.client import connect

from actors.protocol import INT63_MAX, Ack, Heartbeat, Hello, ProtocolError, decode_inbound
from tests.devices.conftest import Screen
from tests.devices.test_device_socket import frame, opened

pytestmark = pytest.mark.anyio

TOO_BIG = INT63_MAX + 1


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "ack", "manifest_version": TOO_BIG},
        {"type": "ack", "manifest_version": -1},
        {"type": "heartbeat", "manifest_version": TOO_BIG},
        {"type": "hello", "token": "x", "last_seq": TOO_BIG},
        {"type": "hello", "token": "x", "last_seq": -5},
        {"type": "heartbeat", "uptime_s": -1.0},
    ],
)
def test_integers_out_of_range_are_protocol_errors(raw: dict[str, object]) -> None:
    with pytest.raises(ProtocolError):
        decode_inbound(json.dumps(raw))


def test_the_largest_bigint_is_accepted() -> None:
    assert decode_inbound(json.dumps({"type": "ack", "manifest_version": INT63_MAX})) == Ack(
        manifest_version=INT63_MAX
    )
    assert isinstance(decode_inbound('{"type":"heartbeat","manifest_version":0}'), Heartbeat)
    hello = decode_inbound(json.dumps({"type": "hello", "token": "t", "last_seq": INT63_MAX}))
    assert isinstance(hello, Hello)
    assert hello.last_seq == INT63_MAX


async def test_a_screen_acking_past_bigint_gets_an_error_frame(
    ws_url: str, approved: Callable[..., Awaitable[Screen]]
) -> None:
    screen = await approved()
    async with connect(ws_url, additional_headers=screen.auth) as ws:
        await opened(ws)
        await ws.send(json.dumps({"type": "ack", "manifest_version": TOO_BIG}))
        answer = await frame(ws)
    assert answer["type"] == "error"
    assert "manifest_version" in answer["detail"]
