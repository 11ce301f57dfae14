"""The device actor: one per connected screen, owner of its session.

It sends ``welcome``, then the session's opening frames (manifest, active emergencies),
then whatever its tenant actor queues in its :class:`Outbox`; it records heartbeats in
presence and hands acknowledgements to the ack sink. It owns its socket's writing: while
it is idle it grants its outbox's :class:`~actors.node.outbox.DirectLane` (the tenant
actor's fan-out may then write an urgent frame straight to the screen) and revokes it
before it writes itself, so there is one writer at a time and frames stay in order. Every
send is bounded: a screen that stops reading is disconnected, never waited for.

Its life is the session's: it is never restarted (``temporary``). Whatever ends it —
revocation, a newer session (``replace``), the screen leaving, a crash, shutdown — its
``on_stop`` closes the socket with the matching code and deregisters from its tenant actor.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

import anyio
import msgspec

from actors.node.messages import (
    CloseSession,
    Flush,
    Notice,
    Regroup,
    Rejoin,
    SessionClosed,
    SessionOpened,
    SessionRegistered,
)
from actors.node.outbox import Outbox
from actors.node.presence import LocalPresence
from actors.ports.fleet import FleetSink, NoFleet
from actors.ports.plays import NoPlays, PlaySink
from actors.ports.sessions import AckSink, DeviceSocket, SessionIdentity, SessionOpening
from actors.protocol import (
    Ack,
    CloseCode,
    CommandResultFrame,
    Heartbeat,
    Played,
    Reconnect,
    Welcome,
    encode_text,
)
from actors.runtime import (
    Actor,
    ActorRef,
    ActorStopped,
    AskTimeout,
    Overflow,
    StopReason,
    handler,
)
from actors.settings import SessionSettings

log = logging.getLogger("actors.device")

KIND = "device"

_CLOSE_ON_STOP = {
    StopReason.REQUESTED: (CloseCode.REPLACED, "replaced by a newer session"),
    StopReason.CRASHED: (CloseCode.INTERNAL_ERROR, "internal error"),
    StopReason.SHUTDOWN: (CloseCode.SERVICE_RESTART, "node restarting; reconnect"),
    StopReason.IDLE: (CloseCode.GOING_AWAY, "idle"),
}


class DeviceSummary(msgspec.Struct, frozen=True):
    """What ``/api/v1/ops/actors/device/<id>`` shows."""

    tenant_id: UUID
    groups: tuple[str, ...]
    connected_at: datetime
    last_heartbeat_at: datetime | None
    outbox_depth: int
    outbox_dropped: int
    frames_sent: int
    manifest_acked: int | None
    emergencies_acked: int


class DeviceActor(Actor):
    def __init__(
        self,
        identity: SessionIdentity,
        socket: DeviceSocket,
        *,
        tenant: Callable[[UUID], ActorRef],
        opening: SessionOpening,
        acks: AckSink,
        presence: LocalPresence,
        fleet: FleetSink | None = None,
        plays: PlaySink | None = None,
        last_seq: int | None = None,
        config: SessionSettings | None = None,
        jitter: Callable[[], float] | None = None,
        recheck: Callable[[ActorRef], None] | None = None,
    ) -> None:
        self.identity = identity
        self.socket = socket
        self.outbox = Outbox()
        #: Bound once: granting the direct lane after every drain allocates nothing.
        self._write_direct = self._direct
        self._tenant = tenant
        self._opening = opening
        self._acks = acks
        self._presence = presence
        self._fleet = fleet if fleet is not None else NoFleet()
        self._plays = plays if plays is not None else NoPlays()
        self._last_seq = last_seq
        self._config = config or SessionSettings()
        self._jitter = jitter
        #: Asks for this session's credentials to be read again (the edge's; no I/O here).
        self._recheck = recheck
        self._closed = False
        self.connected_at = datetime.now(UTC)
        self.last_heartbeat_at: datetime | None = None
        self.frames_sent = 0
        self.manifest_acked: int | None = None
        self.emergencies_acked = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def on_start(self) -> None:
        me = self.identity
        self._presence.connected(me.tenant_id, me.device_id, self)
        welcome = Welcome(device_id=me.device_id, tenant_id=me.tenant_id, server_time=_now())
        await self._send(encode_text(welcome))
        # The opening has two parts. The emergency part comes from the tenant actor, which
        # queues the active emergencies this screen has not seen in the same step that
        # makes the session a fan-out target (so none is missed or reordered); then the
        # rest (the manifest) from SessionOpening. Urgent frames leave first: right after
        # welcome.
        if not await self._register():
            return
        opening = await self._opening.opening(me, self._last_seq)
        for frame in opening.urgent:
            self.outbox.put_urgent(frame)
        if opening.manifest is not None:
            self.outbox.put_manifest(opening.manifest, opening.manifest_version)
        await self._drain()

    async def _register(self, *, rejoining: bool = False) -> bool:
        """Register with the tenant actor; False (session closed, 1013) if it cannot."""
        me = self.identity
        message = SessionOpened(
            me, ref=self.ref, outbox=self.outbox, last_seq=self._last_seq, rejoining=rejoining
        )
        try:
            registered = await self._tenant(me.tenant_id).ask(message, reply=SessionRegistered)
        except (AskTimeout, ActorStopped) as exc:
            log.warning("device %s could not register: %s", me.device_id, type(exc).__name__)
            await self._close(CloseCode.TRY_AGAIN_LATER, "node busy: reconnect")
            self.ref.stop()
            return False
        if registered.refused is not None:  # revoked since its handshake: nothing more
            log.info("device %s revoked while opening: refused", me.device_id)
            await self._end(registered.refused)
            return False
        if registered.recheck and self._recheck is not None:
            self._recheck(self.ref)  # a revocation may have gone unheard: closes it if so
        return True

    async def on_stop(self, reason: StopReason) -> None:
        self.outbox.direct.revoke()
        me = self.identity
        self._presence.disconnected(me.device_id, self)
        # ActorStopped: the node is shutting down, nothing left to deregister from.
        with contextlib.suppress(ActorStopped):
            self._tenant(me.tenant_id).tell(SessionClosed(me.device_id, self.ref))
        if self._closed:
            return
        code, why = _CLOSE_ON_STOP[reason]
        if reason is StopReason.SHUTDOWN:
            with anyio.move_on_after(self._config.farewell_timeout_s):
                await self._try_send(self._reconnect_frame())
        await self._close(code, why)

    def farewell_now(self) -> bool:
        """The shutdown's fast path, called by the node's drain (same event loop, not this
        actor's task): while this actor is idle — its direct lane granted, so nothing is
        being written — hand the screen ``reconnect`` and the close (1012) at once, without
        waiting for the reply. ``False``: not idle (or no fast path): ``on_stop`` says
        goodbye the regular, bounded way when the actor is stopped."""
        if self._closed or not self.outbox.direct.open:
            return False
        code, why = _CLOSE_ON_STOP[StopReason.SHUTDOWN]
        if not self.socket.farewell_nowait(self._reconnect_frame(), code, why):
            return False
        self.outbox.direct.revoke()
        self._closed = True
        self.frames_sent += 1
        return True

    def _reconnect_frame(self) -> str:
        spread = self._jitter() if self._jitter is not None else 0.5
        return encode_text(Reconnect(after_ms=int(spread * self._config.reconnect_spread_ms)))

    async def on_overflow(self) -> None:
        await self._close(CloseCode.TRY_AGAIN_LATER, "too slow: reconnect to catch up")
        self.ref.stop()

    # -- handlers --------------------------------------------------------------------------

    @handler(Overflow.COALESCE)
    async def flush(self, msg: Flush) -> None:
        await self._drain()

    @handler(Overflow.DROP_OLDEST)
    async def heartbeat(self, msg: Heartbeat) -> None:
        self.last_heartbeat_at = now = _now()
        me = self.identity
        self._presence.seen(me.device_id)
        if msg.has_status():  # a bare heartbeat keeps the last status
            self._fleet.status(me.tenant_id, me.device_id, msg, now)

    @handler(Overflow.BLOCK)
    async def command_result(self, msg: CommandResultFrame) -> None:
        self._answered(msg)

    @handler(Overflow.BLOCK)
    async def played(self, msg: Played) -> None:
        self._played(msg)

    @handler(Overflow.BLOCK)
    async def ack(self, msg: Ack) -> None:
        self._acked(msg)

    def on_undelivered(self, message: msgspec.Struct) -> None:
        """What the screen reported is kept even when this actor stopped before handling
        it (a node's drain stops every session while acks are in flight): acks, plays and
        command results go to their batched writers here, flushed at the node's stop."""
        if isinstance(message, Ack):
            self._acked(message)
        elif isinstance(message, Played):
            self._played(message)
        elif isinstance(message, CommandResultFrame):
            self._answered(message)

    def _answered(self, msg: CommandResultFrame) -> None:
        me = self.identity
        self._presence.seen(me.device_id)
        self._fleet.answered(me.tenant_id, me.device_id, msg, _now())

    def _played(self, msg: Played) -> None:
        me = self.identity
        self._presence.seen(me.device_id)
        self._plays.played(me.tenant_id, me.device_id, msg.items, _now())

    def _acked(self, msg: Ack) -> None:
        me = self.identity
        self._presence.seen(me.device_id)
        if msg.emergency_id is not None:
            self.emergencies_acked += 1
            self._acks.emergency_acked(me.tenant_id, me.device_id, msg.emergency_id, _now())
        elif msg.manifest_version is not None:
            self.manifest_acked = msg.manifest_version
            self._acks.manifest_acked(me.tenant_id, me.device_id, msg.manifest_version, _now())

    @handler(Overflow.NEVER_DROP)
    async def close_session(self, msg: CloseSession) -> None:
        await self._end(msg)

    async def _end(self, msg: CloseSession) -> None:
        self.outbox.direct.revoke()
        if msg.frame is not None:
            with anyio.move_on_after(self._config.farewell_timeout_s):
                await self._try_send(msg.frame)
        await self._close(msg.code, msg.reason)
        self.ref.stop()

    @handler(Overflow.COALESCE)
    async def rejoin(self, msg: Rejoin) -> None:
        """The tenant actor restarted and lost its sessions: register again."""
        if not self._closed and await self._register(rejoining=True):
            await self._drain()

    @handler(Overflow.DROP_OLDEST)
    async def notice(self, msg: Notice) -> None:
        self.outbox.put_normal(msg.frame)
        await self._drain()

    @handler(Overflow.COALESCE)
    async def regroup(self, msg: Regroup) -> None:
        self.identity = msgspec.structs.replace(
            self.identity, groups=msg.groups, timezone=msg.timezone
        )

    def summary(self) -> DeviceSummary:
        return DeviceSummary(
            tenant_id=self.identity.tenant_id,
            groups=self.identity.groups,
            connected_at=self.connected_at,
            last_heartbeat_at=self.last_heartbeat_at,
            outbox_depth=len(self.outbox),
            outbox_dropped=self.outbox.dropped,
            frames_sent=self.frames_sent,
            manifest_acked=self.manifest_acked,
            emergencies_acked=self.emergencies_acked,
        )

    # -- sending ---------------------------------------------------------------------------

    async def _drain(self) -> None:
        outbox = self.outbox
        outbox.direct.revoke()  # this actor is the writer now
        if outbox.overflowed:
            await self.on_overflow()
            return
        while not self._closed and (frame := outbox.pop()) is not None:
            await self._send(frame)
        if not self._closed:
            # Idle, nothing queued: fan-outs may hand frames straight to the screen.
            outbox.direct.grant(self._write_direct)

    def _direct(self, frame: str) -> bool:
        if self.socket.send_nowait(frame):
            self.frames_sent += 1
            return True
        return False

    async def _send(self, frame: str) -> None:
        """Send or end the session: a failed or stalled send closes it."""
        if self._closed:
            return
        if not await self._try_send(frame):
            await self._close(CloseCode.TRY_AGAIN_LATER, "send failed or timed out")
            self.ref.stop()

    async def _try_send(self, frame: str) -> bool:
        if self.socket.send_nowait(frame):  # the screen keeps up: no timer, no wait
            self.frames_sent += 1
            return True
        try:
            with anyio.fail_after(self._config.send_timeout_s):
                await self.socket.send(frame)
        except TimeoutError:
            log.warning("device %s stopped reading: disconnecting", self.identity.device_id)
            return False
        except Exception as exc:  # the connection is gone, however the edge reports it
            log.info("device %s send failed: %s", self.identity.device_id, type(exc).__name__)
            return False
        self.frames_sent += 1
        return True

    async def _close(self, code: int, reason: str) -> None:
        self.outbox.direct.revoke()
        if not self._closed:
            self._closed = True
            await self.socket.close(code, reason)


def _now() -> datetime:
    return datetime.now(UTC)
