"""RFC 6455 framing for the client side of the load generator, without I/O.

:func:`client_frame` builds the few frames a simulated device sends (hello, pong, close),
masked as RFC 6455 §5.3 requires of clients. :class:`FrameReader` parses what a server
sends, incrementally, doing as little as it can: no UTF-8 validation, no extensions
(none is ever offered in the handshake, so none may be in use), no JSON. Fragmented
messages are reassembled, so a marker split across fragments is still found.
"""

from __future__ import annotations

import os

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

#: Largest message a simulated device accepts; beyond it the server is misbehaving and
#: buffering it would let one socket eat the generator's memory.
MAX_MESSAGE_BYTES = 1024 * 1024
#: RFC 6455 §5.5: control frames carry at most 125 bytes and are never fragmented.
MAX_CONTROL_PAYLOAD = 125


class ProtocolError(Exception):
    """The server broke RFC 6455 (masked frame, reserved bits, bad fragment or control frame)."""


def mask(payload: bytes, key: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``key`` repeated (RFC 6455 §5.3); its own inverse."""
    n = len(payload)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(stream, "little")).to_bytes(
        n, "little"
    )


def client_frame(opcode: int, payload: bytes = b"", key: bytes | None = None) -> bytes:
    """One final (FIN) client frame: header, the masking key, the masked payload.

    ``key`` defaults to 4 fresh bytes from ``os.urandom``: the RFC wants masks an
    intermediary cannot predict. Pass one only to make a test deterministic.
    """
    if key is None:
        key = os.urandom(4)
    elif len(key) != 4:
        raise ValueError("a masking key is exactly 4 bytes")
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return header + key + mask(payload, key)


class FrameReader:
    """Incremental parser of server-to-client frames.

    :meth:`feed` takes whatever bytes arrived and returns the complete units found:
    ``(opcode, payload)`` for each whole message (``OP_TEXT``/``OP_BINARY``, fragments
    joined) and each control frame (``OP_CLOSE``/``OP_PING``/``OP_PONG``), in order.
    Bytes of an unfinished frame are kept for the next call.
    """

    __slots__ = ("_buffer", "_fragment_opcode", "_fragments", "_fragments_size", "_max")

    def __init__(self, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._buffer = b""
        self._fragments: list[bytes] | None = None
        self._fragment_opcode = 0
        self._fragments_size = 0
        self._max = max_message_bytes

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Parse ``data`` (appended to any leftover) into complete messages and control frames.

        :raises ProtocolError: if the server broke the protocol; the reader is then unusable
            and the connection must be failed.
        """
        buf = self._buffer + data if self._buffer else data
        end = len(buf)
        pos = 0
        out: list[tuple[int, bytes]] = []
        while end - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            if b1 & 0x80:
                raise ProtocolError("server frame is masked")
            if b0 & 0x70:
                raise ProtocolError("reserved bits set, but no extension was negotiated")
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if end - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if length > self._max:
                raise ProtocolError(f"frame of {length} bytes exceeds {self._max}")
            if end - pos < head + length:
                break
            payload = buf[pos + head : pos + head + length]
            pos += head + length
            self._take(b0 & 0x0F, bool(b0 & 0x80), payload, out)
        self._buffer = buf[pos:] if pos < end else b""
        return out

    def _take(self, opcode: int, fin: bool, payload: bytes, out: list[tuple[int, bytes]]) -> None:
        if opcode >= OP_CLOSE:
            if opcode not in (OP_CLOSE, OP_PING, OP_PONG):
                raise ProtocolError(f"reserved control opcode {opcode:#x}")
            if not fin or len(payload) > MAX_CONTROL_PAYLOAD:
                raise ProtocolError("control frame fragmented or longer than 125 bytes")
            out.append((opcode, payload))
        elif opcode == OP_CONTINUATION:
            if self._fragments is None:
                raise ProtocolError("continuation frame without a message to continue")
            self._fragments_size += len(payload)
            if self._fragments_size > self._max:
                raise ProtocolError(f"fragmented message exceeds {self._max} bytes")
            self._fragments.append(payload)
            if fin:
                out.append((self._fragment_opcode, b"".join(self._fragments)))
                self._fragments = None
        elif opcode in (OP_TEXT, OP_BINARY):
            if self._fragments is not None:
                raise ProtocolError("new message started inside a fragmented one")
            if fin:
                out.append((opcode, payload))
            else:
                self._fragments = [payload]
                self._fragment_opcode = opcode
                self._fragments_size = len(payload)
        else:
            raise ProtocolError(f"reserved data opcode {opcode:#x}")


def close_payload(code: int, reason: bytes = b"") -> bytes:
    """The payload of a close frame: 2-byte status code, then an optional UTF-8 reason."""
    return code.to_bytes(2, "big") + reason


def close_code(payload: bytes) -> int | None:
    """The status code of a received close frame, or ``None`` if it carried none (1005)."""
    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
