"""The device WebSocket's fast path: whole text frames written straight to the transport.

Sending through Quart's ``websocket.send`` costs ~40 µs per frame (the ASGI message,
Hypercorn's stream, wsproto's framing, a lock and a ``drain`` per frame); an emergency to
10,000 screens pays it 10,000 times. A screen that keeps up needs none of that: its
frame can be appended to its connection's transport buffer at once, as one ``write``
of a header built here and the UTF-8 payload — the technique of Centrifugo's
``preparedData`` and Phoenix's fastlane (PERF-NOTES).

:meth:`RawTextFrames.write` does that only while it is safe, and otherwise answers
``False`` so the caller uses the regular, bounded ``websocket.send``:

- the connection is an HTTP/1.1 WebSocket on Hypercorn's asyncio server, reached
  through the objects Quart 0.22 / Hypercorn 0.18 expose (found once, at the start of
  the session; any other shape disables the fast path for that session). An HTTP/2
  WebSocket (RFC 8441, which Hypercorn accepts on the same port) carries its frames
  inside HTTP/2 DATA frames: raw bytes on its transport would corrupt the connection,
  so it always takes the regular path;
- no extension was negotiated (compression would change every frame: it is declined);
- the handshake is complete and neither side started closing;
- the transport holds less than :data:`MAX_BUFFERED` bytes not yet sent: a screen that
  stopped reading falls back to the regular path, whose ``drain`` waits — bounded by the
  device actor's send timeout — and ends its session (slow screens are disconnected,
  never waited for).

A shutting-down node says goodbye through it too (:meth:`RawTextFrames.farewell`): the
last text frame and the close frame in one write, the server's side of the close
handshake recorded in Hypercorn's and wsproto's state as ``websocket.close`` would, so
that the screen's close reply ends the connection as usual; a screen that never replies
is dropped with :meth:`RawTextFrames.abort` when the drain's deadline passes.

Frames from both paths are whole frames appended in the order the session's single writer
(its device actor) produced them; Hypercorn's own control frames (pong, close) are whole
writes too, so nothing interleaves inside a frame.
"""

from __future__ import annotations

import asyncio
import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.ws_stream import ASGIWebsocketState, WSStream
from wsproto.connection import ConnectionState

log = logging.getLogger(__name__)

#: The versions whose internals :meth:`RawTextFrames.of` walks, as verified (pinned in
#: pyproject.toml): with any other, the fast path stays off and every frame takes the
#: regular path.
TESTED_WITH = {"hypercorn": "0.18.0", "quart": "0.22.0", "wsproto": "1.3.2"}

_enabled: bool | None = None


def fast_path_check() -> bool:
    """Compare the installed versions with :data:`TESTED_WITH` (once), log the verdict
    and return it."""
    global _enabled
    if _enabled is None:
        installed = {name: _installed(name) for name in TESTED_WITH}
        wrong = {n: v for n, v in installed.items() if v != TESTED_WITH[n]}
        _enabled = not wrong
        if wrong:
            log.warning(
                "WebSocket fast path off: %s (verified with %s); frames take the regular path",
                ", ".join(f"{n} {v}" for n, v in wrong.items()),
                ", ".join(f"{n} {v}" for n, v in TESTED_WITH.items()),
            )
        else:
            log.info(
                "WebSocket fast path on (%s)", ", ".join(f"{n} {v}" for n, v in installed.items())
            )
    return _enabled


def fast_path_enabled() -> bool:
    """The verdict of :func:`fast_path_check` (checked now if it was not yet)."""
    return _enabled if _enabled is not None else fast_path_check()


def _installed(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


#: Bytes a connection may hold unsent before the fast path stands aside (Hypercorn's
#: ``drain`` starts waiting at asyncio's default high-water mark, 64 KiB).
MAX_BUFFERED = 64 * 1024
_TEXT_FIN = 0x81


def text_frame_header(length: int) -> bytes:
    """RFC 6455 §5.2 header of an unmasked, final text frame of ``length`` payload bytes
    (server to client frames are never masked)."""
    if length < 126:
        return bytes((_TEXT_FIN, length))
    if length < 1 << 16:
        return bytes((_TEXT_FIN, 126)) + length.to_bytes(2, "big")
    return bytes((_TEXT_FIN, 127)) + length.to_bytes(8, "big")


#: The last frame built: a fan-out hands the same text to every connection, so it is
#: encoded and framed once, not once per screen (one entry: the next text replaces it).
_last: tuple[str, bytes] = ("", text_frame_header(0))


def _framed(text: str) -> bytes:
    """``text`` as one whole text frame on the wire."""
    payload = text.encode()
    return text_frame_header(len(payload)) + payload


def _wire(text: str) -> bytes:
    """:func:`_framed`, through the one-entry cache of a fan-out's shared text."""
    global _last
    if _last[0] is not text:
        _last = (text, _framed(text))
    return _last[1]


_CLOSE_FIN = 0x88
#: Close frames already built, by (code, reason): a drain's goodbye is one of a few.
_closes: dict[tuple[int, str], bytes] = {}


def close_frame(code: int, reason: str) -> bytes:
    """RFC 6455 §5.5.1 close frame (server to client, unmasked) for ``code`` and
    ``reason`` (its UTF-8 cut to the 123 bytes a control frame leaves), built once."""
    key = (code, reason)
    frame = _closes.get(key)
    if frame is None:
        cut = reason.encode()[:123].decode(errors="ignore").encode()  # whole characters
        payload = code.to_bytes(2, "big") + cut
        frame = _closes[key] = bytes((_CLOSE_FIN, len(payload))) + payload
        if len(_closes) > 64:  # the few goodbyes a node says; never a per-screen text
            _closes.clear()
    return frame


class RawTextFrames:
    """One session's fast path (see the module docstring); build it with :meth:`of`."""

    __slots__ = ("_stream", "_transport")

    def __init__(self, stream: WSStream, transport: asyncio.WriteTransport) -> None:
        self._stream = stream
        self._transport = transport

    @classmethod
    def of(cls, quart_websocket: Any) -> RawTextFrames | None:
        """The fast path under Quart's websocket object, or ``None`` if this server stack
        does not look like the one it was written for (the regular path is then used)."""
        if not fast_path_enabled():
            return None
        try:
            stream = quart_websocket._send.args[0].__self__
            protocol = stream.send.__self__
            if not isinstance(protocol, H11Protocol):  # HTTP/2: frames go inside DATA frames
                return None
            server = protocol.send.__self__  # type: ignore[attr-defined]
            transport = server.writer.transport
            if not isinstance(stream, WSStream) or stream.state is not ASGIWebsocketState.CONNECTED:
                return None
            # A negotiated extension (compression) would have to reframe every message.
            if any(ext.enabled() for ext in stream.connection._proto.extensions):
                return None
        except (AttributeError, IndexError, TypeError):
            return None
        if not isinstance(transport, asyncio.WriteTransport):
            return None
        return cls(stream, transport)

    def write(self, text: str) -> bool:
        """Append ``text`` as one text frame now; ``False`` (nothing written) when the
        regular path must be used. Never raises, never waits."""
        transport = self._transport
        if not self._open() or transport.get_write_buffer_size() >= MAX_BUFFERED:
            return False
        transport.write(_wire(text))
        return True

    def _open(self) -> bool:
        """Neither side started closing, and the handshake is complete."""
        stream = self._stream
        return not (
            stream.closed
            or stream.state is not ASGIWebsocketState.CONNECTED
            or stream.connection.state is not ConnectionState.OPEN
            or self._transport.is_closing()
        )

    def farewell(self, text: str, code: int, reason: str) -> bool:
        """Append ``text`` as a last text frame and then the close frame (``code``), now,
        in one write, and record the close as Hypercorn does for ``websocket.close``: the
        screen's close reply then ends the connection. ``False`` (nothing written) when
        the connection is not open. The buffer limit does not apply: the connection ends
        here, and two small frames are all it can add. Never raises, never waits."""
        if not self._open():
            return False
        stream = self._stream
        # The connection is OPEN (just checked) with no extension (checked by :meth:`of`):
        # wsproto's ``send(CloseConnection)`` would frame the same bytes and move it to
        # LOCAL_CLOSING. Done here with the close frame built once for every screen (a
        # drain says the same goodbye 10,000 times).
        stream.connection._state = ConnectionState.LOCAL_CLOSING
        stream.state = ASGIWebsocketState.CLOSED  # what Hypercorn's own close sets
        # The text framed without the cache: each screen's goodbye is its own (jittered).
        self._transport.write(_framed(text) + close_frame(code, reason))
        return True

    def answered(self) -> bool:
        """The screen's close reply has arrived and been handled: the connection is ending
        by itself (only the server's teardown of it is left)."""
        stream = self._stream
        return stream.closed or stream.connection.state is ConnectionState.CLOSED

    def abort(self) -> None:
        """Drop the connection now, unsent bytes and all (a screen that did not answer
        the close in time): Hypercorn sees it closed and ends the session's handler."""
        self._transport.abort()
