"""``GET /api/v1/devices/ws``: the screens' WebSocket (API.md, "Device WebSocket").

The handler authenticates (``Authorization: Bearer <secret>`` on the upgrade, or a
``hello`` frame within ``WS_HELLO_TIMEOUT_S``), hands the session to a device actor, and
then only reads: every inbound frame is size-checked, rate-limited and validated before
anything else sees it. It never writes to the socket itself once the actor owns it — the
actor decides who writes (itself, or a fan-out through the direct lane it grants while
idle); the reader asks it to close when it must.

Close codes: 4401 bad/pending/revoked secret or suspended tenant; 1008 repeated protocol
errors or inbound flood; 1009 frame over 4 KiB; 4408 no frame within the idle timeout;
4409 replaced by a newer session; 1013 too slow to keep up; 1012 node restarting.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from functools import partial

import anyio
from quart import Blueprint, Response, websocket
from quart.wrappers import Websocket

from actors.domain.device_secret import hash_device_secret
from actors.errors import Throttled, Unauthenticated, Unavailable
from actors.metrics import Counter
from actors.node.messages import CloseSession, Notice
from actors.ports.sessions import SessionIdentity
from actors.protocol import (
    MAX_INBOUND_FRAME_BYTES,
    Ack,
    CloseCode,
    CommandResultFrame,
    ErrorFrame,
    Heartbeat,
    Hello,
    Played,
    ProtocolError,
    Revoked,
    decode_inbound,
    encode_text,
)
from actors.ratelimit import TokenBucket, source_key
from actors.runtime import ActorRef, ActorStopped, MailboxFull
from edge.auth import bearer_token
from edge.client_address import client_address
from edge.container import Container, container
from edge.logs import request_id_var
from edge.problems import problem
from edge.ws_frames import RawTextFrames

log = logging.getLogger(__name__)

bp = Blueprint("device_socket", __name__)

_REVOKED = encode_text(Revoked())


class QuartDeviceSocket:
    """Implements :class:`actors.ports.sessions.DeviceSocket` over Quart's websocket."""

    def __init__(self, ws: Websocket, closes: Counter, *, close_timeout_s: float) -> None:
        self._ws = ws
        self._closes = closes
        #: How long a close, or the frame before it, may take (``WS_CLOSE_TIMEOUT_S``);
        #: the drain does not wait for it (:meth:`edge.container.Container.drain`).
        self.close_timeout_s = close_timeout_s
        self._fast = RawTextFrames.of(ws)
        self.closed = False
        #: The code the server closed with (``None``: open, or the screen left first).
        self.close_code: int | None = None
        #: Cancelled on close, so the reader stops waiting for frames that won't come.
        self.reading = anyio.CancelScope()

    async def send(self, frame: str) -> None:
        if self.closed:
            raise ConnectionError("the session is closed")
        await self._ws.send(frame)

    def send_nowait(self, frame: str) -> bool:
        fast = self._fast
        return fast is not None and not self.closed and fast.write(frame)

    def farewell_nowait(self, frame: str, code: int, reason: str) -> bool:
        fast = self._fast
        if fast is None or self.closed or not fast.farewell(frame, code, reason[:120]):
            return False
        # The reader goes on reading (and dropping) until the screen's close reply ends
        # the connection, or the drain's deadline drops it (:meth:`abort`).
        self.closed = True
        self.close_code = code
        self._closes.inc(code=str(code))
        return True

    def abort(self) -> bool:
        """Drop the connection now unless the screen answered the close (the drain's
        deadline passed); ``False`` if it answered (its connection is ending by itself),
        or if this session has no fast path to reach its transport through (it ends with
        the server's own stop)."""
        fast = self._fast
        if fast is None or fast.answered():
            return False
        fast.abort()
        return True

    def gone(self) -> None:
        """The screen disconnected: later sends fail and closes do nothing.

        Called by the session's own handler once it is cancelled, i.e. outside
        :attr:`reading` already: the scope is not cancelled here. (anyio's
        ``CancelScope.cancel`` formats its reason with the calling task's repr, ~6 µs; a
        drain's 10,000 cancelled handlers paid it for a scope they had left.)"""
        self.closed = True

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self.reading.cancel()
        self._closes.inc(code=str(code))
        with anyio.move_on_after(self.close_timeout_s):
            try:
                await self._ws.close(code, reason[:120])
            except Exception as exc:  # already gone: nothing to tell the screen
                log.debug("close(%d) failed: %s", code, exc)


def _peer(app: Container) -> str:
    return client_address(
        websocket.remote_addr,
        websocket.headers.get("X-Forwarded-For"),
        app.settings.http.trusted_proxy_hops,
    )


@bp.websocket("/api/v1/devices/ws")
async def device_session() -> Response | None:
    app = container()
    upgrade_at = time.monotonic()
    request_id_var.set(uuid.uuid4().hex)
    if app.draining:
        app.edge_metrics.ws_refused.inc()
        # Refused before the upgrade: this node is stopping, another one takes the screen.
        return problem(
            503,
            "Node shutting down",
            "this node is draining: reconnect to another node",
            headers={"Retry-After": "1"},
        )
    try:
        # Counted per source prefix (IPv6: its /64), as registrations and logins are.
        app.device_connects.check(source_key(_peer(app)), "connection attempts from this address")
    except Throttled as exc:
        app.edge_metrics.ws_refused.inc()
        # Refused before the upgrade: a plain 429 the screen can back off from.
        return problem(429, exc.title, exc.detail, headers={"Retry-After": str(exc.retry_after)})
    refusal = app.admission.admit()
    if refusal is not None:
        app.edge_metrics.ws_refused.inc()
        # Past what the node can take: a fast, explicit answer before the upgrade.
        headers = {"Retry-After": str(refusal.retry_after_s)}
        return problem(503, refusal.title, refusal.detail, headers=headers)
    admitted = _Once(app.admission.opened)
    ws: Websocket = websocket._get_current_object()  # type: ignore[attr-defined]
    try:
        await ws.accept()
    except BaseException:
        admitted()
        raise
    # Built once accepted: the fast path is found on an open connection only.
    socket = QuartDeviceSocket(
        ws, app.edge_metrics.ws_closes, close_timeout_s=app.settings.websocket.close_timeout_s
    )
    app.device_connections.add(socket)  # a drain waits for it, then drops it
    ref: ActorRef | None = None
    identity: SessionIdentity | None = None
    opened_at = time.monotonic()
    try:
        hello = await _authenticate(app, ws, socket)
        if hello is None:
            return None
        identity, last_seq = hello
        # The recheck keeps the secret's digest: the secret itself is not held past here.
        recheck = partial(app.rechecks.request, identity.secret_digest, identity.device_id)
        ref = app.sessions.open(identity, socket, last_seq=last_seq, recheck=recheck)
        admitted()  # authenticated and handed to its actor: no longer "opening"
        app.edge_metrics.ws_opened(time.monotonic() - upgrade_at)
        opened_at = time.monotonic()
        log.info(
            "session opened: device %s",
            identity.device_id,
            extra=_session_fields(app, identity),
        )
        # Any session of the device on another node closes (4409); on this one, the
        # actor just spawned replaced it.
        app.takeovers.announce(identity)
        ending: CloseSession | None = None
        with socket.reading:  # cancelled when the actor closes the socket
            ending = await _read(app, ws, socket, ref)
        if ending is not None:
            # The actor owns the socket's writing: it sends the close and stops itself.
            ref.tell(ending)
            await _wait_stopped(ref, socket.close_timeout_s)
        elif not socket.closed:  # the actor stopped and nobody closed: the node is stopping
            await socket.close(CloseCode.TRY_AGAIN_LATER, "node shutting down")
        await _keep_reports(ws, ref, socket.close_timeout_s)
    except ActorStopped:
        await socket.close(CloseCode.TRY_AGAIN_LATER, "node shutting down")
    except anyio.get_cancelled_exc_class():
        socket.gone()  # the screen left: nothing more to send it
        raise
    finally:
        admitted()
        # A draining node ends every session at once: the drain stopped the actors (the
        # runtime's stop waits for all of them together) and logs one line for all.
        draining = app.draining
        with anyio.CancelScope(shield=True):
            try:
                if ref is not None:
                    await _end(ref, socket.close_timeout_s, wait=not draining)
                if not socket.closed:
                    await socket.close(CloseCode.INTERNAL_ERROR, "session ended")
            finally:
                app.device_connections.discard(socket)
        if identity is not None and (not draining or log.isEnabledFor(logging.DEBUG)):
            log.log(
                logging.DEBUG if draining else logging.INFO,
                "session closed: device %s, code %s",
                identity.device_id,
                socket.close_code or "none (the screen left)",
                extra={
                    **_session_fields(app, identity),
                    "code": socket.close_code,
                    "duration_s": round(time.monotonic() - opened_at, 1),
                },
            )
    return None


def _session_fields(app: Container, identity: SessionIdentity) -> dict[str, object]:
    return {
        "device": str(identity.device_id),
        "tenant": str(identity.tenant_id),
        "session": str(identity.session_id),
        "client": _peer(app),
    }


def _refused(app: Container, why: str) -> None:
    log.info("session refused: %s", why, extra={"reason": why, "client": _peer(app)})


class _Once:
    """Calls ``action`` the first time it is called, never again."""

    __slots__ = ("_action",)

    def __init__(self, action: Callable[[], None]) -> None:
        self._action: Callable[[], None] | None = action

    def __call__(self) -> None:
        action, self._action = self._action, None
        if action is not None:
            action()


#: What a screen reports that must be kept even while its session closes.
_REPORTS = (Ack, Played, CommandResultFrame)
#: At most this many of them are kept after the close (what a screen had in flight; a
#: screen flooding its closing session is not read into the batched writers).
MAX_REPORTS_AFTER_CLOSE = 256


async def _keep_reports(ws: Websocket, ref: ActorRef, timeout_s: float) -> None:
    """After the close frame, keep reading what the screen still sends until its close
    reply ends the connection, for at most ``timeout_s``: its reports (acks above all,
    sent before it saw the close) still go to its actor — or, the actor stopped, to its
    ``on_undelivered`` — and everything else is dropped.

    Returning earlier would leave frames in flight with nobody reading them: Hypercorn
    then blocks on its bounded per-connection queue and never sees the close reply.
    """
    kept = 0
    with anyio.move_on_after(timeout_s):
        while True:
            raw = await ws.receive()
            if (
                kept >= MAX_REPORTS_AFTER_CLOSE
                or not isinstance(raw, str)
                or len(raw) > MAX_INBOUND_FRAME_BYTES
            ):
                continue
            try:
                frame = decode_inbound(raw)
            except ProtocolError:
                continue
            if isinstance(frame, _REPORTS):
                kept += 1
                with contextlib.suppress(ActorStopped, MailboxFull):
                    ref.tell(frame)


async def _wait_stopped(ref: ActorRef, timeout_s: float) -> None:
    with contextlib.suppress(TimeoutError):
        await ref.join(timeout_s)


async def _end(ref: ActorRef, timeout_s: float, *, wait: bool = True) -> None:
    """Make sure the device actor is stopped, and wait for it (bounded: a wedged actor
    cannot keep this handler, and its connection, alive) unless ``wait`` is false."""
    if ref.alive:
        ref.stop()
    if wait:
        await _wait_stopped(ref, timeout_s)


async def _authenticate(
    app: Container, ws: Websocket, socket: QuartDeviceSocket
) -> tuple[SessionIdentity, int | None] | None:
    """The session's identity (with its secret's digest) and ``last_seq``, or ``None``
    after closing with 4401."""
    secret = bearer_token(websocket.headers.get("Authorization"))
    last_seq: int | None = None
    if secret is None:
        raw: str | bytes | None = None
        with anyio.move_on_after(app.settings.websocket.hello_timeout_s):
            raw = await ws.receive()
        try:
            frame = decode_inbound(raw) if isinstance(raw, str) else None
        except ProtocolError:
            frame = None
        if not isinstance(frame, Hello):
            _refused(app, "no hello")
            await socket.close(CloseCode.UNAUTHORIZED, "authenticate first: hello with token")
            return None
        secret, last_seq = frame.token.strip(), frame.last_seq
    checked_from = time.monotonic()  # before the read: see SessionIdentity.checked_from
    try:
        found = await app.credentials.credential(secret)  # batched with other handshakes
    except Unauthenticated:
        _refused(app, "unknown device secret")
        await socket.close(CloseCode.UNAUTHORIZED, "unknown device secret")
        return None
    except Unavailable:
        _refused(app, "database unavailable")
        await socket.close(CloseCode.TRY_AGAIN_LATER, "cannot check credentials now: reconnect")
        return None
    if not found.may_connect or found.tenant_id is None:
        _refused(app, f"device {found.device_id} {found.status}")
        if found.status == "revoked":
            await _send_quietly(socket, _REVOKED)
        await socket.close(CloseCode.UNAUTHORIZED, f"device {found.status}, cannot connect")
        return None
    digest = hash_device_secret(secret)
    identity = SessionIdentity(
        device_id=found.device_id,
        tenant_id=found.tenant_id,
        groups=found.groups,
        timezone=found.timezone,
        name=found.name,
        secret_digest=digest or b"",
        checked_from=checked_from,
    )
    return identity, last_seq


async def _send_quietly(socket: QuartDeviceSocket, frame: str) -> None:
    with anyio.move_on_after(socket.close_timeout_s):
        try:
            await socket.send(frame)
        except Exception as exc:
            log.debug("send before close failed: %s", exc)


async def _read(
    app: Container, ws: Websocket, socket: QuartDeviceSocket, ref: ActorRef
) -> CloseSession | None:
    """Validate and forward inbound frames; returns how to close when the screen broke
    a rule (the actor sends the close), or ``None`` if the session ended otherwise —
    its actor stopped (a node's drain) included: what it was told then went to its
    ``on_undelivered``."""
    try:
        return await _forward(app, ws, ref)
    except ActorStopped:
        return None


async def _forward(app: Container, ws: Websocket, ref: ActorRef) -> CloseSession | None:
    settings = app.settings
    bucket = TokenBucket(
        settings.websocket.inbound_per_s, settings.websocket.inbound_burst, updated=time.monotonic()
    )
    played = TokenBucket(
        settings.plays.items_per_s, settings.plays.items_burst, updated=time.monotonic()
    )
    errors = 0
    while True:
        raw: str | bytes | None = None
        with anyio.move_on_after(settings.websocket.idle_timeout_s):
            raw = await ws.receive()
        if raw is None:
            return CloseSession(CloseCode.IDLE_TIMEOUT, "no heartbeat")
        size = len(raw) if isinstance(raw, bytes) else len(raw.encode())
        if size > MAX_INBOUND_FRAME_BYTES:
            return CloseSession(
                CloseCode.TOO_BIG, f"frames are limited to {MAX_INBOUND_FRAME_BYTES} bytes"
            )
        if bucket.take(time.monotonic()) > 0:
            return CloseSession(CloseCode.POLICY, "too many frames")
        try:
            if isinstance(raw, bytes):
                raise ProtocolError("binary frames are not part of the protocol")
            frame = decode_inbound(raw)
            if isinstance(frame, Hello):
                raise ProtocolError("already authenticated")
        except ProtocolError as exc:
            errors += 1
            if errors >= settings.websocket.max_protocol_errors:
                return CloseSession(CloseCode.POLICY, "repeated protocol errors")
            ref.tell(Notice(encode_text(ErrorFrame(detail=str(exc)[:200]))))
            continue
        if isinstance(frame, Heartbeat):
            ref.tell(frame)
        elif isinstance(frame, Played):
            # Items, not frames, are what a screen could flood the writer with.
            if played.take(time.monotonic(), len(frame.items)) > 0:
                errors += 1
                if errors >= settings.websocket.max_protocol_errors:
                    return CloseSession(CloseCode.POLICY, "repeated protocol errors")
                detail = "played: more items than allowed; report less often"
                ref.tell(Notice(encode_text(ErrorFrame(detail=detail))))
                continue
            try:
                await ref.send(frame, timeout=settings.websocket.idle_timeout_s / 3)
            except MailboxFull:
                return CloseSession(CloseCode.POLICY, "reporting too fast")
        elif isinstance(frame, Ack | CommandResultFrame):
            try:
                await ref.send(frame, timeout=settings.websocket.idle_timeout_s / 3)
            except MailboxFull:
                return CloseSession(CloseCode.POLICY, "acknowledging too fast")
