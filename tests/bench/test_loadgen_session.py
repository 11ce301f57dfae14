"""One simulated device's protocol against a scripted server (a recording fake transport)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from bench.loadgen.frames import OP_CLOSE, OP_PONG, OP_TEXT, close_code, mask
from bench.loadgen.handshake import accept_for, new_key, upgrade_request
from bench.loadgen.session import DeviceSession, NotOpened, Round

pytestmark = pytest.mark.anyio


class RecordingTransport(asyncio.Transport):
    """Keeps what the session writes; records pause/close instead of doing I/O."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False
        self.paused = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.paused = True


def client_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Unmask and parse what a session wrote after its upgrade request."""
    frames = []
    while data:
        opcode, length = data[0] & 0x0F, data[1] & 0x7F
        assert data[1] & 0x80, "client frames must be masked"
        assert length < 126
        key, payload = data[2:6], data[6 : 6 + length]
        frames.append((opcode, mask(payload, key)))
        data = data[6 + length :]
    return frames


def server_text(payload: bytes) -> bytes:
    assert len(payload) < 126
    return bytes((0x81, len(payload))) + payload


def switching(key: bytes) -> bytes:
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_for(key) + b"\r\n\r\n"
    )


def open_session(
    *,
    hello: str | None = None,
    ready_marker: bytes = b"",
    stall: bool = False,
    round_: Round | None = None,
) -> tuple[DeviceSession, RecordingTransport, bytes, Round, Counter[str]]:
    key = new_key()
    round_ = round_ or Round()
    errors: Counter[str] = Counter()
    session = DeviceSession(
        index=0,
        request=upgrade_request("127.0.0.1:1", "/ws", key),
        key=key,
        hello_token=hello,
        ready_marker=ready_marker,
        stall=stall,
        round_=round_,
        errors=errors,
    )
    transport = RecordingTransport()
    session.connection_made(transport)
    assert transport.written.startswith(b"GET /ws HTTP/1.1\r\n")
    transport.written = b""
    return session, transport, key, round_, errors


async def test_ready_at_101_then_hello_is_the_first_frame() -> None:
    session, transport, key, _round, _errors = open_session(hello="secret")
    session.data_received(switching(key))
    assert session.ready.done()
    assert session.is_ready
    [(opcode, payload)] = client_frames(transport.written)
    assert opcode == OP_TEXT
    assert json.loads(payload) == {"type": "hello", "token": "secret"}


async def test_ready_marker_defers_readiness_to_the_welcome_frame() -> None:
    session, _transport, key, _round, _errors = open_session(ready_marker=b'"type":"welcome"')
    session.data_received(switching(key) + server_text(b'{"type":"manifest"}'))
    assert not session.ready.done()
    session.data_received(server_text(b'{"type":"welcome","device_id":"d"}'))
    assert session.is_ready


async def test_the_upgrade_is_over_at_the_101_or_at_a_refusal_whatever_ready_waits_for() -> None:
    session, _transport, key, _round, _errors = open_session(ready_marker=b'"type":"manifest"')
    assert not session.upgraded.done()
    session.data_received(switching(key) + server_text(b'{"type":"welcome"}'))
    assert session.upgraded.done()
    assert not session.ready.done()  # the player still waits for its opening frames
    refused, _transport, _key, _round, _errors = open_session(ready_marker=b"manifest")
    refused.data_received(b"HTTP/1.1 503 Busy\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n")
    assert refused.upgraded.done()
    with pytest.raises(NotOpened, match="HTTP 503"):
        await refused.ready


async def test_ping_is_answered_with_a_masked_pong_of_the_same_payload() -> None:
    session, transport, key, _round, _errors = open_session()
    session.data_received(switching(key) + bytes((0x89, 0x04)) + b"beat")
    assert client_frames(transport.written) == [(OP_PONG, b"beat")]


async def test_marked_frame_settles_the_round_once_with_its_arrival_time() -> None:
    session, _transport, key, round_, _errors = open_session()
    session.data_received(switching(key))
    round_.arm(b"MARK-1", expected=1)
    session.awaiting = True
    session.data_received(server_text(b'{"message":"other"}'))
    assert not round_.done.is_set()
    # The marker split across two fragments of one message is still found.
    session.data_received(bytes((0x01, 0x05)) + b'{"m":' + bytes((0x80, 0x09)) + b'"MARK-1"}')
    assert round_.done.is_set()
    [arrival] = round_.arrivals
    assert arrival[0] > 0
    assert arrival[1] == 0  # the session's target
    session.data_received(server_text(b'"MARK-1" again'))
    assert round_.arrivals == [arrival]
    assert round_.pending == 0


async def test_server_close_is_echoed_and_counted_when_not_normal() -> None:
    session, transport, key, _round, errors = open_session()
    session.data_received(switching(key))
    session.data_received(bytes((0x88, 0x02)) + (4401).to_bytes(2, "big"))
    [(opcode, payload)] = client_frames(transport.written)
    assert opcode == OP_CLOSE
    assert close_code(payload) == 4401
    assert transport.closed
    assert errors == {"server closed 4401": 1}


async def test_refused_upgrade_fails_readiness_with_the_status() -> None:
    session, transport, _key, _round, _errors = open_session()
    session.data_received(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(ConnectionError, match="HTTP 401"):
        await session.ready
    assert transport.closed


async def test_a_session_lost_mid_round_settles_it_as_lost() -> None:
    session, _transport, key, round_, _errors = open_session()
    session.data_received(switching(key))
    round_.arm(b"MARK-2", expected=1)
    session.awaiting = True
    session.connection_lost(ConnectionResetError())
    assert round_.done.is_set()
    assert round_.lost == 1


async def test_a_stalled_session_stops_reading_once_ready() -> None:
    session, transport, key, _round, _errors = open_session(stall=True)
    session.data_received(switching(key))
    assert transport.paused


async def test_a_refused_upgrade_carries_its_retry_after_and_4401_is_final() -> None:
    session, _transport, _key, _round, _errors = open_session()
    session.data_received(b"HTTP/1.1 503 Busy\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(NotOpened, match="HTTP 503") as refused:
        await session.ready
    assert (refused.value.retry_after_s, refused.value.final) == (2.0, False)
    session, _transport, key, _round, _errors = open_session(ready_marker=b"manifest")
    session.data_received(switching(key) + bytes((0x88, 0x02)) + (4401).to_bytes(2, "big"))
    with pytest.raises(NotOpened, match="4401 before ready") as closed:
        await session.ready
    assert (closed.value.retry_after_s, closed.value.final) == (None, True)


async def test_a_storm_round_counts_screens_from_the_welcome_of_the_session_it_came_on() -> None:
    round_ = Round()
    round_.arm(b"MARK-3", expected=1, by_screen=True)
    first, _transport, key, _round, _errors = open_session(round_=round_)
    first.awaiting = True
    first.data_received(switching(key) + server_text(b'{"type":"welcome"}'))
    first.connection_lost(ConnectionResetError())  # lost: its screen reconnects
    assert (round_.lost, round_.done.is_set()) == (0, False)
    again, _transport, key, _round, _errors = open_session(round_=round_)  # same index 0
    again.awaiting = True
    again.data_received(switching(key) + server_text(b'{"type":"welcome"}'))
    again.data_received(server_text(b'{"type":"emergency","m":"MARK-3"}'))
    assert round_.done.is_set()
    assert round_.screens is not None
    [(arrived, welcomed)] = round_.screens.values()
    assert welcomed == again.welcomed_at
    assert first.welcomed_at <= welcomed <= arrived
    round_.received(arrived + 1.0, 0, 0, welcomed)  # a later session's replay: not twice
    assert len(round_.arrivals) == 1
