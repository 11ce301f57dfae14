"""One simulated device: an asyncio Protocol speaking just enough WebSocket to be measured.

The hot path is :meth:`DeviceSession.data_received`: read the clock, split frames, look
for the round's marker bytes in each message. No JSON, no UTF-8 decoding, no per-frame
task or future. A session answers pings and close frames as RFC 6455 requires, and
otherwise never writes after its handshake (and optional hello).
"""

from __future__ import annotations

import asyncio
import errno
import json
from collections import Counter
from time import monotonic
from typing import cast

from bench.loadgen.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameReader,
    ProtocolError,
    client_frame,
    close_code,
    close_payload,
)
from bench.loadgen.handshake import HandshakeError, UpgradeRefused, check_response, split_head

#: Close code a session sends when the benchmark is done with it (RFC 6455 "normal").
CLOSE_NORMAL = 1000
#: Close code a session sends when the server broke the protocol.
CLOSE_PROTOCOL_ERROR = 1002
#: Close code after which a player does not retry (docs/devices.md: the secret is refused).
CLOSE_UNAUTHORIZED = 4401


class NotOpened(ConnectionError):
    """Why a session never became ready, with what the player reconnect contract needs:
    ``retry_after_s`` (the ``Retry-After`` of a refused upgrade, a floor under the next
    attempt's delay) and ``final`` (4401: retrying is pointless)."""

    def __init__(
        self, reason: str, *, retry_after_s: float | None = None, final: bool = False
    ) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s
        self.final = final


class Round:
    """What one worker's sessions watch for during a round, and what they saw.

    Shared by all sessions of a worker (one event loop, so no locking). ``marker`` is
    empty between rounds. ``pending`` counts the sessions still expected; ``done`` is set
    when it reaches zero, each session settling once, by receiving (``arrivals``) or by
    closing first (``lost``).

    Armed ``by_screen``, it counts screens instead of sessions (a storm whose players
    reconnect): a screen settles when the first of its sessions gets the marker, whose
    arrival and welcome times ``screens`` keeps; a session lost first settles nothing,
    since the screen tries again.
    """

    __slots__ = ("arrivals", "done", "lost", "marker", "pending", "screens")

    def __init__(self) -> None:
        self.marker = b""
        self.pending = 0
        self.lost = 0
        #: ``(time.monotonic(), target index)`` per session that got the marker.
        self.arrivals: list[tuple[float, int]] = []
        #: Armed ``by_screen``: screen index -> (arrival, its session's welcome time).
        self.screens: dict[int, tuple[float, float]] | None = None
        self.done = asyncio.Event()

    def arm(self, marker: bytes, expected: int, *, by_screen: bool = False) -> None:
        if not marker:
            raise ValueError("a round needs a non-empty marker")
        self.marker = marker
        self.pending = expected
        self.lost = 0
        self.arrivals = []
        self.screens = {} if by_screen else None
        self.done = asyncio.Event()
        if expected == 0:
            self.done.set()

    def disarm(self) -> None:
        self.marker = b""
        self.pending = 0
        self.screens = None

    def received(self, at: float, target: int, screen: int = -1, welcomed_at: float = 0.0) -> None:
        if self.screens is not None:
            if screen in self.screens:
                return  # a later session of a screen that already has it
            self.screens[screen] = (at, welcomed_at)
        self.arrivals.append((at, target))
        self._settle_one()

    def lose_one(self) -> None:
        if self.screens is not None:
            return  # its screen reconnects and is still expected
        self.lost += 1
        self._settle_one()

    def _settle_one(self) -> None:
        self.pending -= 1
        if self.pending <= 0:
            self.done.set()


class DeviceSession(asyncio.Protocol):
    """A device's WebSocket session from TCP connect to close.

    Life: handshake → (hello sent) → *ready* (at the ``101``, or at the first message
    containing ``ready_marker`` if one is given) → watching rounds → closed.
    ``ready`` resolves when the session is ready and fails with the reason if it never
    gets there; whoever opened the session must await it (or cancel it on timeout).
    ``upgraded`` resolves when the handshake is over, either way.
    """

    __slots__ = (
        "_errors",
        "_hello",
        "_key",
        "_reader",
        "_ready_marker",
        "_request",
        "_round",
        "_transport",
        "awaiting",
        "index",
        "is_ready",
        "open",
        "ready",
        "stall",
        "target",
        "upgraded",
        "welcomed_at",
    )

    def __init__(
        self,
        *,
        index: int,
        target: int = 0,
        request: bytes,
        key: bytes,
        hello_token: str | None,
        ready_marker: bytes,
        stall: bool,
        round_: Round,
        errors: Counter[str],
        awaiting: bool = False,
    ) -> None:
        #: This session's number within its worker (its token, if any, is ``tokens[index]``).
        self.index = index
        #: Which of the worker's targets (server nodes) this session is connected to.
        self.target = target
        self._request = request
        self._key = key
        self._hello = hello_token
        self._ready_marker = ready_marker
        self._round = round_
        self._errors = errors
        self._reader: FrameReader | None = None  # None until the 101 arrived
        self._transport: asyncio.Transport | None = None
        #: Never reads again once ready: the "device that stopped reading" of adversarial runs.
        self.stall = stall
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()
        #: Resolves (always with ``None``) once the upgrade is over: the ``101`` checked, or
        #: the attempt failed first (``ready`` then says why). An open-loop generator frees
        #: its slot here.
        self.upgraded: asyncio.Future[None] = loop.create_future()
        self.is_ready = False
        self.open = False
        #: True while this session is expected to receive the current round's marker
        #: (from the start for a session opened during a round, as after a reconnect).
        self.awaiting = awaiting
        #: When the server's first message (its welcome) arrived; 0.0 until then.
        self.welcomed_at = 0.0

    # -- asyncio callbacks ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self.open = True
        self._transport.write(self._request)
        self._request = b""

    def data_received(self, data: bytes) -> None:
        now = monotonic()  # before any parsing: the arrival time of these bytes
        if self._reader is None:
            data = self._finish_handshake(data)
            if not data:
                return
        assert self._reader is not None
        try:
            units = self._reader.feed(data)
        except ProtocolError as exc:
            self._fail(f"protocol: {exc}", CLOSE_PROTOCOL_ERROR)
            return
        for opcode, payload in units:
            if opcode in (OP_TEXT, OP_BINARY):
                self._on_message(payload, now)
            elif opcode == OP_PING:
                self._write(client_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                self._on_close_frame(payload)
                return

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if not self.ready.done():
            reason = "closed before ready" if exc is None else failure_reason(exc)
            self._not_ready(ConnectionError(reason))
        if self.awaiting:
            self.awaiting = False
            self._round.lose_one()

    # -- the hot path -----------------------------------------------------------------

    def _on_message(self, payload: bytes, now: float) -> None:
        if not self.welcomed_at:
            self.welcomed_at = now
        marker = self._round.marker
        if self.awaiting and marker and marker in payload:
            self.awaiting = False
            self._round.received(now, self.target, self.index, self.welcomed_at)
        elif not self.is_ready and self._ready_marker and self._ready_marker in payload:
            self._become_ready()

    # -- the rest ---------------------------------------------------------------------

    def _finish_handshake(self, data: bytes) -> bytes:
        """Consume the response head; return the bytes behind it (frames), or b''."""
        self._request += data  # the request is sent; reuse the slot as the response buffer
        try:
            split = split_head(self._request)
            if split is None:
                return b""
            head, rest = split
            check_response(head, self._key)
        except HandshakeError as exc:
            retry_after = exc.retry_after_s if isinstance(exc, UpgradeRefused) else None
            self._fail(str(exc), None, retry_after_s=retry_after)
            return b""
        self._request = b""
        self._reader = FrameReader()
        self._upgrade_over()
        if self._hello is not None:
            hello = json.dumps({"type": "hello", "token": self._hello}).encode()
            self._write(client_frame(OP_TEXT, hello))
            self._hello = None
        if not self._ready_marker:
            self._become_ready()
        return rest

    def _become_ready(self) -> None:
        self.is_ready = True
        if self.stall and self._transport is not None:
            self._transport.pause_reading()
        if not self.ready.done():
            self.ready.set_result(None)

    def _not_ready(self, exc: Exception) -> None:
        self.ready.set_exception(exc)
        self._upgrade_over()

    def _upgrade_over(self) -> None:
        if not self.upgraded.done():
            self.upgraded.set_result(None)

    def _on_close_frame(self, payload: bytes) -> None:
        code = close_code(payload)
        if not self.ready.done():
            self._not_ready(
                NotOpened(f"server closed {code} before ready", final=code == CLOSE_UNAUTHORIZED)
            )
        elif code != CLOSE_NORMAL:
            self._errors[f"server closed {code}"] += 1
        # RFC 6455 §5.5.1: answer with a close frame, echoing the code, then drop TCP.
        self._write(client_frame(OP_CLOSE, payload[:2]))
        self._close_transport()

    def _fail(self, reason: str, code: int | None, *, retry_after_s: float | None = None) -> None:
        if self.ready.done():
            self._errors[reason] += 1
        else:
            self._not_ready(NotOpened(reason, retry_after_s=retry_after_s))
        if code is not None:
            self._write(client_frame(OP_CLOSE, close_payload(code)))
        self._close_transport()

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _close_transport(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def close(self) -> None:
        """Say goodbye (close 1000) and close the socket; ``connection_lost`` follows."""
        if self._reader is not None:
            self._write(client_frame(OP_CLOSE, close_payload(CLOSE_NORMAL)))
        self._close_transport()

    def discard(self) -> None:
        """Give up on a session that never became ready: abort it, and settle ``ready``
        without leaving an exception nobody will retrieve."""
        if self.ready.done():
            if not self.ready.cancelled():
                self.ready.exception()  # mark as retrieved
        else:
            self.ready.cancel()
        self.abort()

    def abort(self) -> None:
        """Drop the socket at once, as a crashed device would."""
        if self._transport is not None:
            self._transport.abort()


def failure_reason(exc: BaseException) -> str:
    """A short, countable name for why a connection failed (errno name when there is one)."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return errno.errorcode.get(exc.errno, f"errno {exc.errno}")
    if isinstance(exc, ConnectionError | TimeoutError) and exc.args:
        return str(exc.args[0])
    return type(exc).__name__
