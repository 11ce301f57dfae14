"""The WebSocket opening handshake (RFC 6455 §4), client side, by hand and without I/O.

Only what the generator needs: build the upgrade request (optionally with a bearer
token), then check the response head for ``101``, ``Upgrade: websocket`` and the
``Sec-WebSocket-Accept`` derived from our key. No extension or subprotocol is offered,
so a response that selects one is refused.
"""

from __future__ import annotations

import base64
import hashlib
import os

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: A response head longer than this is not a WebSocket server talking.
MAX_RESPONSE_HEAD = 16 * 1024


class HandshakeError(Exception):
    """The server refused or botched the upgrade. ``str(err)`` is short enough to count by."""


class UpgradeRefused(HandshakeError):
    """The server answered the upgrade with another status (``HTTP 503``), and perhaps a
    ``Retry-After`` in whole seconds: the floor a player's next attempt must respect."""

    def __init__(self, status: str, retry_after_s: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.retry_after_s = retry_after_s


def new_key() -> bytes:
    """A fresh ``Sec-WebSocket-Key``: 16 random bytes, base64."""
    return base64.b64encode(os.urandom(16))


def accept_for(key: bytes) -> bytes:
    """The ``Sec-WebSocket-Accept`` a server must answer to ``key``."""
    return base64.b64encode(hashlib.sha1(key + _GUID).digest())  # noqa: S324 - RFC 6455 says SHA-1


def upgrade_request(host: str, path: str, key: bytes, bearer: str | None = None) -> bytes:
    """The complete HTTP/1.1 upgrade request, ready to write.

    ``host`` is the ``Host`` header value (``127.0.0.1:8000``); ``bearer`` adds
    ``Authorization: Bearer <bearer>``.
    """
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key.decode('ascii')}",
        "Sec-WebSocket-Version: 13",
    ]
    if bearer is not None:
        if "\r" in bearer or "\n" in bearer:
            raise ValueError("a bearer token cannot contain CR or LF")
        lines.append(f"Authorization: Bearer {bearer}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def split_head(buffer: bytes) -> tuple[bytes, bytes] | None:
    """Split a response into ``(head, rest)`` once the blank line has arrived, else ``None``.

    ``rest`` holds any frames the server sent right behind the ``101``.

    :raises HandshakeError: if more than :data:`MAX_RESPONSE_HEAD` bytes came without one.
    """
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_RESPONSE_HEAD:
            raise HandshakeError("response head too long")
        return None
    return buffer[:end], buffer[end + 4 :]


def check_response(head: bytes, key: bytes) -> None:
    """Accept ``head`` (without its blank line) as a valid switch to WebSocket for ``key``.

    :raises HandshakeError: naming the first thing wrong (``bad accept``, ...);
        :class:`UpgradeRefused` for another status than ``101`` (``HTTP 401``).
    """
    status_line, _, header_block = head.partition(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise HandshakeError("not an HTTP response")
    headers: dict[bytes, bytes] = {}
    malformed = False
    for line in header_block.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        malformed = malformed or not sep
        headers[name.strip().lower()] = value.strip()
    if parts[1] != b"101":
        retry_after = headers.get(b"retry-after", b"")
        raise UpgradeRefused(
            parts[1].decode("latin-1")[:3], float(retry_after) if retry_after.isdigit() else None
        )
    if malformed:
        raise HandshakeError("malformed header line")
    if headers.get(b"upgrade", b"").lower() != b"websocket":
        raise HandshakeError("no Upgrade: websocket")
    if headers.get(b"sec-websocket-accept") != accept_for(key):
        raise HandshakeError("bad Sec-WebSocket-Accept")
    if b"sec-websocket-extensions" in headers:
        raise HandshakeError("server selected an extension that was not offered")
