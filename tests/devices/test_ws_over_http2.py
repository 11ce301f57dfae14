"""A device WebSocket over HTTP/2 (RFC 8441), which Hypercorn accepts on the same port:
its frames must travel inside HTTP/2 DATA frames. The fast path writes raw RFC 6455 bytes
to the transport; over HTTP/2 that would corrupt the connection, so it must stand aside."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import h2.config
import h2.connection
import h2.events
import pytest
from quart import Quart
from wsproto.frame_protocol import FrameDecoder, Opcode

from tests.devices.conftest import Screen

pytestmark = pytest.mark.anyio

Approve = Callable[..., Awaitable[Screen]]
WAIT_S = 10.0


def _websocket_over_h2(port: int, secret: str) -> list[dict[str, Any]]:
    """Open ``/api/v1/devices/ws`` with an extended CONNECT and read the opening frames
    (welcome, manifest) out of the stream's DATA frames."""
    import json

    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    stream_id = conn.get_next_available_stream_id()
    decoder = FrameDecoder(client=True, extensions=[])
    messages: list[dict[str, Any]] = []
    sent = False
    try:
        while len(messages) < 2:
            data = sock.recv(65536)
            assert data, "the server closed the connection"
            for event in conn.receive_data(data):  # raises on bytes outside HTTP/2 framing
                if isinstance(event, h2.events.RemoteSettingsChanged) and not sent:
                    conn.send_headers(
                        stream_id,
                        [
                            (":method", "CONNECT"),
                            (":protocol", "websocket"),
                            (":scheme", "http"),
                            (":path", "/api/v1/devices/ws"),
                            (":authority", f"127.0.0.1:{port}"),
                            ("sec-websocket-version", "13"),
                            ("authorization", f"Bearer {secret}"),
                        ],
                    )
                    sent = True
                elif isinstance(event, h2.events.ResponseReceived):
                    assert dict(event.headers)[b":status"] == b"200", event.headers
                elif isinstance(event, h2.events.DataReceived):
                    conn.acknowledge_received_data(event.flow_controlled_length, stream_id)
                    decoder.receive_bytes(event.data)
                    while (frame := decoder.process_buffer()) is not None:
                        assert frame.opcode is Opcode.TEXT
                        assert isinstance(frame.payload, bytes)
                        messages.append(json.loads(frame.payload))
                elif isinstance(event, h2.events.StreamReset | h2.events.ConnectionTerminated):
                    raise AssertionError(f"the server ended the stream: {event}")
            sock.sendall(conn.data_to_send())
    finally:
        sock.close()
    return messages


async def test_a_session_over_http2_gets_its_frames_inside_data_frames(
    app: Quart, approved: Approve
) -> None:
    screen = await approved()
    port = app.config["TEST_PORT"]
    with anyio.fail_after(WAIT_S):
        messages = await anyio.to_thread.run_sync(_websocket_over_h2, port, screen.secret)
    assert [m["type"] for m in messages] == ["welcome", "manifest"]
