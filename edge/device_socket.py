"""``GET /api/v1/devices/ws``: the screens' WebSocket (API.md, "Device WebSocket").

The handler authenticates (``Authorization: Bearer <secret>`` on the upgrade, or a
``hello`` frame within ``WS_HELLO_TIMEOUT_S``), hands the session to a device actor, and
then only reads: every inbound frame is size-checked, rate-limited and validated before
anything else sees it. It never writes to the socket itself once the actor owns it — the
actor is the socket's only writer; the reader asks it to close when it must.

Close codes: 4401 bad/pending/revoked secret or suspended tenant; 1008 repeated protocol
errors or inbound flood; 1009 frame over 4 KiB; 4408 no frame within the idle timeout;
4409 replaced by a newer session; 1013 too slow to keep up; 1012 node restarting.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid

import anyio
from quart import Blueprint, Response, websocket
from quart.wrappers import Websocket

from actors.domain.device_secret import hash_device_secret
from actors.errors import Throttled, Unauthenticated
from actors.events import SessionTakenOver
from actors.protocol import (
    MAX_INBOUND_FRAME_BYTES,
    Ack,
    CloseCode,
    ErrorFrame,
    Heartbeat,
    Hello,
    ProtocolError,
    Revoked,
    decode_inbound,
    encode_text,
)
from actors.ratelimit import TokenBucket
from actors.runtime import ActorRef, ActorStopped, MailboxFull
from actors.sessions.messages import CloseSession, Notice
from actors.sessions.ports import SessionIdentity
from edge.client_address import client_address
from edge.container import Container, container
from edge.logs import request_id_var
from edge.problems import problem

log = logging.getLogger(__name__)

bp = Blueprint("device_socket", __name__)

#: How long a close may take before the connection is abandoned to the server.
CLOSE_TIMEOUT_S = 2.0
_REVOKED = encode_text(Revoked())


class QuartDeviceSocket:
    """Implements :class:`actors.sessions.ports.DeviceSocket` over Quart's websocket."""

    def __init__(self, ws: Websocket) -> None:
        self._ws = ws
        self.closed = False
        #: Cancelled on close, so the reader stops waiting for frames that won't come.
        self.reading = anyio.CancelScope()

    async def send(self, frame: str) -> None:
        if self.closed:
            raise ConnectionError("the session is closed")
        await self._ws.send(frame)

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.reading.cancel()
        with anyio.move_on_after(CLOSE_TIMEOUT_S):
            try:
                await self._ws.close(code, reason[:120])
            except Exception as exc:  # already gone: nothing to tell the screen
                log.debug("close(%d) failed: %s", code, exc)


def _peer(app: Container) -> str:
    return client_address(
        websocket.remote_addr,
        websocket.headers.get("X-Forwarded-For"),
        app.settings.trusted_proxy_hops,
    )


@bp.websocket("/api/v1/devices/ws")
async def device_session() -> Response | None:
    app = container()
    request_id_var.set(uuid.uuid4().hex)
    try:
        app.device_connects.check(_peer(app), "connection attempts from this address")
    except Throttled as exc:
        # Refused before the upgrade: a plain 429 the screen can back off from.
        return problem(429, exc.title, exc.detail, headers={"Retry-After": str(exc.retry_after)})
    ws: Websocket = websocket._get_current_object()  # type: ignore[attr-defined]
    await ws.accept()
    socket = QuartDeviceSocket(ws)
    ref: ActorRef | None = None
    try:
        hello = await _authenticate(app, ws, socket)
        if hello is None:
            return None
        identity, last_seq = hello
        ref = app.sessions.open(identity, socket, last_seq=last_seq)
        await app.events.publish(
            identity.tenant_id, SessionTakenOver(identity.device_id, identity.session_id)
        )
        with socket.reading:
            await _read(app, ws, socket, ref)
    except ActorStopped:
        await socket.close(CloseCode.TRY_AGAIN_LATER, "node shutting down")
    finally:
        if ref is not None:
            ref.stop()
            # The actor closes the socket in on_stop; bounded, so a wedged actor cannot
            # keep this handler (and its connection) alive.
            with (
                anyio.CancelScope(shield=True),
                anyio.move_on_after(CLOSE_TIMEOUT_S),
                contextlib.suppress(TimeoutError),
            ):
                await ref.join(CLOSE_TIMEOUT_S)
        with anyio.CancelScope(shield=True):
            await socket.close(1011, "session ended")
    return None


async def _authenticate(
    app: Container, ws: Websocket, socket: QuartDeviceSocket
) -> tuple[SessionIdentity, int | None] | None:
    """The session's identity and ``last_seq``, or ``None`` after closing with 4401."""
    header = websocket.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    last_seq: int | None = None
    if scheme.lower() != "bearer" or not secret.strip():
        with anyio.move_on_after(app.settings.ws_hello_timeout_s):
            raw = await ws.receive()
        try:
            frame = decode_inbound(raw) if isinstance(raw, str) else None
        except (ProtocolError, NameError):
            frame = None
        if not isinstance(frame, Hello):
            await socket.close(CloseCode.UNAUTHORIZED, "authenticate first: hello with token")
            return None
        secret, last_seq = frame.token, frame.last_seq
    try:
        found = await app.devices.credential(secret.strip())
    except Unauthenticated:
        await socket.close(CloseCode.UNAUTHORIZED, "unknown device secret")
        return None
    if not found.may_connect or found.tenant_id is None:
        if found.status == "revoked":
            await _send_quietly(socket, _REVOKED)
        await socket.close(CloseCode.UNAUTHORIZED, f"device {found.status}, cannot connect")
        return None
    digest = hash_device_secret(secret.strip())
    identity = SessionIdentity(
        device_id=found.device_id,
        tenant_id=found.tenant_id,
        groups=found.groups,
        timezone=found.timezone,
        name=found.name,
        secret_digest=digest or b"",
    )
    return identity, last_seq


async def _send_quietly(socket: QuartDeviceSocket, frame: str) -> None:
    with anyio.move_on_after(CLOSE_TIMEOUT_S):
        try:
            await socket.send(frame)
        except Exception as exc:
            log.debug("send before close failed: %s", exc)


async def _read(app: Container, ws: Websocket, socket: QuartDeviceSocket, ref: ActorRef) -> None:
    """Validate and forward inbound frames until the session ends."""
    settings = app.settings
    bucket = TokenBucket(
        settings.ws_inbound_per_s, settings.ws_inbound_burst, updated=time.monotonic()
    )
    errors = 0
    while True:
        raw: str | bytes | None = None
        with anyio.move_on_after(settings.ws_idle_timeout_s):
            raw = await ws.receive()
        if raw is None:
            ref.tell(CloseSession(CloseCode.IDLE_TIMEOUT, "no heartbeat"))
            return
        size = len(raw) if isinstance(raw, bytes) else len(raw.encode())
        if size > MAX_INBOUND_FRAME_BYTES:
            ref.tell(
                CloseSession(
                    CloseCode.TOO_BIG, f"frames are limited to {MAX_INBOUND_FRAME_BYTES} bytes"
                )
            )
            return
        if bucket.take(time.monotonic()) > 0:
            ref.tell(CloseSession(CloseCode.POLICY, "too many frames"))
            return
        try:
            if isinstance(raw, bytes):
                raise ProtocolError("binary frames are not part of the protocol")
            frame = decode_inbound(raw)
            if isinstance(frame, Hello):
                raise ProtocolError("already authenticated")
        except ProtocolError as exc:
            errors += 1
            if errors >= settings.ws_max_protocol_errors:
                ref.tell(CloseSession(CloseCode.POLICY, "repeated protocol errors"))
                return
            ref.tell(Notice(encode_text(ErrorFrame(detail=str(exc)[:200]))))
            continue
        if isinstance(frame, Heartbeat):
            ref.tell(frame)
        elif isinstance(frame, Ack):
            try:
                await ref.send(frame, timeout=settings.ws_idle_timeout_s / 3)
            except MailboxFull:
                ref.tell(CloseSession(CloseCode.POLICY, "acknowledging too fast"))
                return
