"""The fast path's contract, against the real server (Hypercorn on a local port).

The fan-out writes pre-framed text straight into an idle session's transport
(``edge/ws_frames.py``); when that transport already holds ``MAX_BUFFERED`` bytes it
stands aside and the device actor's bounded, regular path takes over. Whatever mix of the
two a session sees, the screen must receive well-formed RFC 6455 frames, every emergency
in sequence order with none missing, and — when it stopped reading for good — a session
ended by the server, never a corrupted stream; a screen that closes its side while
emergencies are being written to it gets the close answered after whole frames only, and
nothing after that answer. (HTTP/2 sessions never take the fast path:
``tests/devices/test_ws_over_http2.py``.)
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
from typing import Any

import anyio
import pytest
from wsproto.frame_protocol import CloseReason, FrameDecoder, Opcode

from actors.settings import Settings
from edge.ws_frames import MAX_BUFFERED
from tests.auth.conftest import FAST_HASHING, Caller
from tests.conftest import make_settings
from tests.emergencies.conftest import EMERGENCY_TIMERS, Approve, Connect, Player, trigger
from tests.servers import quiet_screen
from tests.waiting import eventually

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.timeout(180)]

#: A message near the longest allowed, so that frames fill buffers quickly.
LONG = "Evacuate the building by the nearest exit and assemble in the car park. " * 13
#: The server's kernel send buffer per connection (Linux doubles it): a screen that does
#: not read fills it within a hundred rounds and is given up ~10 s later (~400 rounds),
#: instead of filling loopback's autotuned 4 MiB in all 2,500 (50 s of emergencies).
SEND_BUFFER_BYTES = 32 * 1024
#: Emergencies started and cleared at most: ~5.5 MB for a screen that does not read, more
#: than loopback's largest kernel buffers (4 MiB) plus ``MAX_BUFFERED`` even unbounded.
MAX_ROUNDS = 2_500
READ_WAIT_S = 20.0
#: The device actor's send timeout (10 s) and some.
GIVE_UP_WITHIN_S = 30.0


@pytest.fixture
def send_buffer_bytes() -> int:
    return SEND_BUFFER_BYTES


@pytest.fixture
def settings(db_clean: str) -> Settings:
    # No idle timeout in the way: the stalled session must end because it does not read.
    timers = {**EMERGENCY_TIMERS, "ws_idle_timeout_s": 600.0}
    return make_settings(db_clean, **FAST_HASHING, **timers)


def _read_until_closed(sock: socket.socket) -> list[tuple[Opcode, Any]]:
    """Every frame the server sent, up to its close frame (or the end of the connection);
    a malformed frame fails here."""
    decoder = FrameDecoder(client=True)
    found: list[tuple[Opcode, Any]] = []
    pending: tuple[Opcode, Any] | None = None
    while not found or found[-1][0] is not Opcode.CLOSE:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        decoder.receive_bytes(chunk)
        while (frame := decoder.process_buffer()) is not None:
            # wsproto hands a long frame's payload over in parts as bytes arrive (the
            # later parts as CONTINUATION): a frame is its first part's opcode.
            if pending is None:
                pending = (frame.opcode, frame.payload)
            else:
                pending = (pending[0], pending[1] + frame.payload)
            if frame.frame_finished:
                assert frame.message_finished  # the server never fragments a message
                found.append(pending)
                pending = None
    return found


async def test_a_screen_that_stops_reading_gets_intact_ordered_frames_then_a_server_close(
    app: Any, operator: Caller, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    port = app.config["TEST_PORT"]
    stalled_screen, healthy_screen = await approved("Stalled"), await approved("Healthy")
    stalled = await anyio.to_thread.run_sync(quiet_screen, port, stalled_screen.secret, READ_WAIT_S)
    try:
        async with play(healthy_screen) as healthy:
            healthy_player: Player = healthy
            seqs: list[int] = []
            device = f"/api/v1/tenants/{tenant['id']}/devices/{stalled_screen.device_id}"
            rounds = 0
            # Emergencies until the server gives up on the screen that does not read: past
            # the kernel's buffers, then MAX_BUFFERED in the transport (the fast path
            # stands aside), then the regular path's bounded send and urgent lane.
            while rounds < MAX_ROUNDS:
                started = await trigger(operator, tenant, message=LONG)
                await operator.post(
                    f"/api/v1/tenants/{tenant['id']}/emergencies/{started['id']}/clear", {}
                )
                for _frame in range(2):
                    frame = await healthy_player.next_of("emergency", "emergency_clear")
                    seqs.append(frame["seq"])
                rounds += 1
                if (
                    rounds % 50 == 0
                    and not (await (await operator.get(device)).get_json())["online"]
                ):
                    break
            # The screen that reads got everything, in order, none missing.
            assert seqs == list(range(seqs[0], seqs[0] + 2 * rounds))
            assert rounds * 2 * len(LONG) > MAX_BUFFERED  # more than the fast path may buffer

            async def offline() -> bool:
                return not (await (await operator.get(device)).get_json())["online"]

            await eventually(offline, timeout_s=GIVE_UP_WITHIN_S, every_s=0.1)
            frames = await anyio.to_thread.run_sync(_read_until_closed, stalled)
    finally:
        stalled.close()
    texts = [json.loads(payload) for opcode, payload in frames if opcode is Opcode.TEXT]
    assert [opcode for opcode, _ in frames if opcode is not Opcode.TEXT] == [Opcode.CLOSE]
    assert texts[0]["type"] == "welcome"
    urgent = [t["seq"] for t in texts if t["type"] in ("emergency", "emergency_clear")]
    assert urgent, "the stalled screen got the first emergencies before its buffers filled"
    assert urgent == list(range(urgent[0], urgent[0] + len(urgent)))  # in order, no gap
    # The server gave up on it with a close frame after whatever it had already handed
    # to the connection (none of the frames after it, none cut in the middle).
    assert frames[-1][0] is Opcode.CLOSE
    payload = frames[-1][1]
    code = payload[0] if isinstance(payload, tuple) else int.from_bytes(payload[:2], "big")
    assert code == CloseReason.TRY_AGAIN_LATER


def _client_close(code: int) -> bytes:
    """A masked close frame as a client sends it (RFC 6455 5.3)."""
    mask = os.urandom(4)
    payload = struct.pack("!H", code)
    return (
        bytes([0x88, 0x80 | len(payload)])
        + mask
        + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    )


def _close_midway(
    sock: socket.socket, after: int, sent: threading.Event
) -> list[tuple[Opcode, Any]]:
    """Read frames; once ``after`` emergency frames arrived, send a close (1000) and read on
    until the server's close frame and the end of the connection. A malformed frame, or
    anything after the server's close frame, fails here."""
    decoder = FrameDecoder(client=True)
    found: list[tuple[Opcode, Any]] = []
    pending: tuple[Opcode, Any] | None = None
    urgent = 0
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        decoder.receive_bytes(chunk)
        while (frame := decoder.process_buffer()) is not None:
            assert not found or found[-1][0] is not Opcode.CLOSE, "a frame after the close"
            pending = (
                (frame.opcode, frame.payload)
                if pending is None
                else (pending[0], pending[1] + frame.payload)
            )
            if not frame.frame_finished:
                continue
            found.append(pending)
            pending = None
            if found[-1][0] is Opcode.TEXT and b'"seq"' in bytes(found[-1][1]):
                urgent += 1
                if urgent == after:
                    sock.sendall(_client_close(CloseReason.NORMAL_CLOSURE))
                    sent.set()
    return found


async def test_a_screen_closing_while_emergencies_are_written_gets_whole_frames_then_the_answer(
    app: Any, operator: Caller, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    port = app.config["TEST_PORT"]
    closing_screen, healthy_screen = await approved("Closing"), await approved("Healthy")
    closing = await anyio.to_thread.run_sync(quiet_screen, port, closing_screen.secret, READ_WAIT_S)
    sent = threading.Event()
    read: list[list[tuple[Opcode, Any]]] = []
    try:
        async with play(healthy_screen) as healthy, anyio.create_task_group() as tasks:
            healthy_player: Player = healthy

            async def reader() -> None:
                read.append(await anyio.to_thread.run_sync(_close_midway, closing, 20, sent))

            tasks.start_soon(reader)
            seqs: list[int] = []
            rounds = 0
            # Emergencies keep going out while the screen closes, and a while after.
            while not (sent.is_set() and rounds >= 40):
                assert rounds < MAX_ROUNDS, "the screen never received 20 emergency frames"
                started = await trigger(operator, tenant, message=LONG)
                await operator.post(
                    f"/api/v1/tenants/{tenant['id']}/emergencies/{started['id']}/clear", {}
                )
                for _frame in range(2):
                    seqs.append(
                        (await healthy_player.next_of("emergency", "emergency_clear"))["seq"]
                    )
                rounds += 1
            assert seqs == list(range(seqs[0], seqs[0] + 2 * rounds))  # the others unharmed
    finally:
        closing.close()
    frames = read[0]
    assert frames[-1][0] is Opcode.CLOSE, "the server answered the close"
    payload = frames[-1][1]
    code = payload[0] if isinstance(payload, tuple) else int.from_bytes(payload[:2], "big")
    assert code == CloseReason.NORMAL_CLOSURE
    assert [opcode for opcode, _ in frames[:-1] if opcode is not Opcode.TEXT] == []
    texts = [json.loads(payload) for _opcode, payload in frames[:-1]]
    assert texts[0]["type"] == "welcome"
    urgent = [t["seq"] for t in texts if t["type"] in ("emergency", "emergency_clear")]
    assert len(urgent) >= 20
    assert urgent == list(range(urgent[0], urgent[0] + len(urgent)))  # in order, no gap
    device = f"/api/v1/tenants/{tenant['id']}/devices/{closing_screen.device_id}"

    async def offline() -> bool:
        return not (await (await operator.get(device)).get_json())["online"]

    await eventually(offline, timeout_s=GIVE_UP_WITHIN_S, every_s=0.1)
