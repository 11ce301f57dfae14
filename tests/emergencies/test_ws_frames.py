"""The device WebSocket's fast path: frame headers, and that real sessions use it."""

from __future__ import annotations

from typing import Any

import pytest
from quart import Quart
from wsproto.connection import Connection, ConnectionType
from wsproto.events import CloseConnection
from wsproto.frame_protocol import FrameDecoder, Opcode

from edge.container import EXTENSION_KEY, Container
from edge.device_socket import QuartDeviceSocket
from edge.ws_frames import close_frame, text_frame_header
from tests.emergencies.conftest import Approve, Connect, trigger

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("size", [0, 1, 125, 126, 300, 65_535, 65_536, 70_000])
def test_a_text_frame_decodes_as_one_final_text_message(size: int) -> None:
    text = "é" * (size // 2) + "x" * (size % 2)
    payload = text.encode()
    decoder = FrameDecoder(client=True)
    decoder.receive_bytes(text_frame_header(len(payload)) + payload)
    frame = decoder.process_buffer()
    assert frame is not None
    assert frame.opcode is Opcode.TEXT
    assert frame.message_finished
    received = frame.payload
    # wsproto hands text frames over decoded, except an empty one (b"").
    assert received == text if isinstance(received, str) else received == text.encode()
    assert decoder.process_buffer() is None


@pytest.mark.parametrize(
    ("code", "reason"),
    [(1012, "node shutting down: reconnect"), (1000, ""), (4409, "é" * 70), (1012, "x" * 200)],
)
def test_the_shared_close_frame_is_the_one_wsproto_builds(code: int, reason: str) -> None:
    wsproto = Connection(ConnectionType.SERVER)
    expected = wsproto.send(CloseConnection(code=code, reason=reason))
    assert close_frame(code, reason) == expected
    assert close_frame(code, reason) is close_frame(code, reason)  # built once
    # ... and a client reads it as that close, whose reply then ends the connection.
    screen = Connection(ConnectionType.CLIENT)
    screen.receive_data(close_frame(code, reason))
    (event,) = list(screen.events())
    assert isinstance(event, CloseConnection)
    assert (event.code, event.reason) == (code, expected[4:].decode())


async def test_hypercorn_sessions_take_the_fast_path(
    app: Quart, operator: Any, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    screen = await approved()
    async with play(screen) as player:
        await player.next_of("manifest")
        container: Container = app.extensions[EXTENSION_KEY]
        [cell] = [c for c in container.runtime.registry.cells() if c.kind == "device"]
        socket = cell.actor.socket  # type: ignore[union-attr]
        assert isinstance(socket, QuartDeviceSocket)
        assert socket._fast is not None
        started = await trigger(operator, tenant)
        assert (await player.emergency())["id"] == started["id"]


def test_the_fast_path_is_on_only_with_the_versions_it_was_verified_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from edge import ws_frames

    monkeypatch.setattr(ws_frames, "_enabled", None)
    assert ws_frames.fast_path_check()  # this venv holds the pinned versions
    monkeypatch.setattr(ws_frames, "_enabled", None)
    monkeypatch.setitem(ws_frames.TESTED_WITH, "hypercorn", "0.0.1")
    assert not ws_frames.fast_path_check()
    assert ws_frames.RawTextFrames.of(object()) is None  # off: nobody walks internals


async def test_the_verdict_is_a_metric(app: Quart) -> None:
    node: Container = app.extensions[EXTENSION_KEY]
    assert node.metrics.sample("signage_fast_path_enabled") == 1.0
