"""The tenant actor: this node's view of one tenant's live sessions.

It knows which device actors on this node hold sessions of its tenant, and their groups;
it receives the tenant's events — from this node's use cases and, through the relay,
from every other node — and applies them to the sessions it knows: closing revoked
devices, regrouping, and (with emergencies) fanning one pre-encoded frame out to many
outboxes without awaiting any screen.

The relay may lose events (principle 4). After a relay gap, and periodically, the
reconciler service asks the actor to reconcile its sessions with PostgreSQL
(:class:`Resync`) and reads for it (this actor never awaits PostgreSQL after it starts): a
device revoked, a secret rotated or a tenant suspended while this node heard nothing is
closed then. Emergencies it missed are read and told to it by the emergency watch.

A revocation it heard is remembered for a while (:mod:`actors.node.recent_revocations`): a
session whose secret its handshake checked just before the revocation, registering after
the notice, is refused (4401) as the notice would have closed it. A notice this node never
got (relay gap, or sent before this actor subscribed) leaves the reconciliation as the
backstop; a session whose credentials were read before this actor's subscription was
live is told to be checked again (:mod:`actors.services.credential_rechecks`).

One per tenant per node, spawned on demand and never passivated (a tenant actor holding
sessions must not forget them; tenants are few).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from uuid import UUID

import msgspec

from actors.domain.emergencies import EmergencyEnded, EmergencyStarted
from actors.domain.emergency_board import BoardSummary, Fanout
from actors.domain.targets import DeviceTarget, GroupTarget, Target, TenantTarget
from actors.events import (
    DeviceCommandSent,
    DeviceRevoked,
    DeviceSecretRotated,
    DevicesRevoked,
    DeviceUpdated,
    ManifestsChanged,
    SessionsTakenOver,
    SessionTakenOver,
    TenantSuspended,
)
from actors.node.messages import (
    CloseSession,
    Flush,
    Regroup,
    SessionClosed,
    SessionOpened,
    SessionRegistered,
    SessionsAnswer,
    SessionsQuery,
)
from actors.node.outbox import Outbox
from actors.node.recent_revocations import RecentRevocations, keep_for
from actors.node.tenant_emergencies import CaughtUp, NodeEmergencies
from actors.ports.relay import Relay, Resync, Subscription
from actors.protocol import CloseCode, CommandFrame, Revoked, encode_text
from actors.runtime import Actor, ActorRef, ActorStopped, Overflow, StopReason, handler
from actors.services.manifest_feed import ManifestDelivery
from actors.services.reconciler import Reconciled, Reconciler

log = logging.getLogger("actors.tenant")

KIND = "tenant"
_REVOKED = encode_text(Revoked())


@dataclass(slots=True)
class LocalSession:
    ref: ActorRef
    outbox: Outbox
    groups: tuple[str, ...]
    secret_digest: bytes
    session_id: UUID
    #: When the session was authenticated (wall clock, :attr:`SessionIdentity.opened_at`).
    opened_at: float


class TenantSummary(msgspec.Struct, frozen=True):
    sessions: int
    groups: dict[str, int]
    subscribed: bool
    resyncs: int
    emergencies: BoardSummary | None = None


class TenantActor(Actor):
    def __init__(
        self,
        tenant_id: UUID,
        *,
        relay: Relay,
        reconciler: Reconciler,
        emergencies: NodeEmergencies | None = None,
        rejoin: Callable[[UUID], None] | None = None,
        manifests: ManifestDelivery | None = None,
        revocations_kept_s: float = keep_for(10.0, 5.0),
    ) -> None:
        self.tenant_id = tenant_id
        self.sessions: dict[UUID, LocalSession] = {}
        self.by_group: dict[str, set[UUID]] = {}
        self._relay = relay
        self._reconciler = reconciler
        #: Counts device events; ``_touched`` says which event last changed a session, so
        #: that a reconciliation answer older than that event leaves the session alone.
        self._epoch = 0
        self._touched: dict[UUID, int] = {}
        self._subscription: Subscription | None = None
        #: This node's monotonic clock once the relay subscription was live (or its wait
        #: timed out: then the relay gap reconciles): sessions checked before are rechecked.
        self._live_from = float("inf")
        self.resyncs = 0
        # Without a node's emergencies (unit tests), events are applied but never caught up.
        node = emergencies if emergencies is not None else NodeEmergencies(None)
        self.emergencies = node.for_tenant(tenant_id)
        self._rejoin = rejoin
        self._manifests = manifests
        #: Credentials revoked lately: a session checked before, registering after the
        #: notice, is refused (:mod:`actors.node.recent_revocations`).
        self.revoked = RecentRevocations(revocations_kept_s)

    async def on_start(self) -> None:
        # Incoming relay messages are told to this actor; a gap goes to the reconciler.
        self._subscription = await self._relay.subscribe(
            self.tenant_id,
            self._relayed,
            lambda: self._reconciler.relay_gap(self.tenant_id, self.ref),
        )
        self._live_from = time.monotonic()
        # Subscribed first, then read: an emergency published in between is in both
        # (the board applies each number once), none is in neither.
        self._fan_out(await self.emergencies.load())
        if self.emergencies.has_gap:
            self.emergencies.request_catch_up(self.ref)
        if self._rejoin is not None:
            # A restarted incarnation knows no session: the device actors register again.
            self._rejoin(self.tenant_id)

    async def on_stop(self, reason: StopReason) -> None:
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None

    def _relayed(self, message: msgspec.Struct) -> None:
        try:
            self.ref.tell(message)
        except ActorStopped:
            pass  # stopping: the next incarnation resyncs
        except Exception:
            log.exception("tenant %s: relayed %s refused", self.tenant_id, type(message).__name__)

    # -- the local sessions ----------------------------------------------------------------

    @handler(Overflow.NEVER_DROP)
    async def session_opened(self, msg: SessionOpened) -> SessionRegistered:
        me = msg.identity
        if self.revoked.refuses(me.device_id, me.secret_digest):
            # Checked in its handshake before a revocation this actor heard since: closed
            # as the revocation would have closed it, had it been registered then.
            return _REFUSED
        self._forget(me.device_id)
        self.sessions[me.device_id] = LocalSession(
            msg.ref, msg.outbox, me.groups, me.secret_digest, me.session_id, me.opened_at
        )
        for group in me.groups:
            self.by_group.setdefault(group, set()).add(me.device_id)
        # The opening's emergency part, queued in the step that makes the session a
        # fan-out target: whatever this actor fans out next comes after it, in order.
        last_seq = self.emergencies.previous_seq if msg.rejoining else msg.last_seq
        frames = self.emergencies.opening(me.device_id, me.groups, last_seq)
        for frame in frames:
            msg.outbox.put_urgent(frame)
        if frames:
            _tell(msg.ref, _FLUSH)
        if self._manifests is not None:
            # Normally the opening brings the manifest and this finds nothing newer; it
            # covers an opening that timed out and a change committed while it read.
            self._manifests.deliver(self.tenant_id, ((me.device_id, self.sessions[me.device_id]),))
        if me.checked_from is not None and me.checked_from < self._live_from:
            # Checked before this actor could hear a revocation: read again, outside.
            return _RECHECK
        return _REGISTERED

    @handler(Overflow.NEVER_DROP)
    async def session_closed(self, msg: SessionClosed) -> None:
        session = self.sessions.get(msg.device_id)
        if session is not None and session.ref is msg.ref:
            self._forget(msg.device_id)

    @handler(Overflow.BLOCK)
    async def sessions_query(self, msg: SessionsQuery) -> SessionsAnswer:
        return SessionsAnswer(tuple(self.sessions))

    def _forget(self, device_id: UUID) -> None:
        session = self.sessions.pop(device_id, None)
        if session is None:
            return
        self._touched.pop(device_id, None)
        for group in session.groups:
            members = self.by_group.get(group)
            if members is not None:
                members.discard(device_id)
                if not members:
                    del self.by_group[group]

    # -- tenant events ---------------------------------------------------------------------

    @handler(Overflow.NEVER_DROP)
    async def device_revoked(self, msg: DeviceRevoked) -> None:
        """Revoked or deleted: its sessions close, and any still registering is refused."""
        self.revoked.revoked(msg.device_id)
        self._close(msg.device_id, CloseCode.UNAUTHORIZED, _NO_LONGER_VALID)

    @handler(Overflow.NEVER_DROP)
    async def device_secret_rotated(self, msg: DeviceSecretRotated) -> None:
        """Its session closes (whichever secret it opened with: the new one reconnects),
        and one still registering on the old secret is refused; one on the new secret
        registers. (An older node's notice names no secret: nothing is remembered.)"""
        if msg.old_secret_digest is not None:
            self.revoked.revoked(msg.device_id, msg.old_secret_digest)
        self._close(msg.device_id, CloseCode.UNAUTHORIZED, _NO_LONGER_VALID)

    @handler(Overflow.NEVER_DROP)
    async def devices_revoked(self, msg: DevicesRevoked) -> None:
        for device_id in msg.device_ids:
            self.revoked.revoked(device_id)
            self._close(device_id, CloseCode.UNAUTHORIZED, _NO_LONGER_VALID)

    @handler(Overflow.NEVER_DROP)
    async def device_command_sent(self, msg: DeviceCommandSent) -> None:
        """A remote command: sent to the screen if its session is on this node."""
        session = self.sessions.get(msg.device_id)
        if session is not None:
            session.outbox.put_normal(encode_text(CommandFrame(id=msg.command_id, name=msg.name)))
            _tell(session.ref, _FLUSH)

    @handler(Overflow.NEVER_DROP)
    async def session_taken_over(self, msg: SessionTakenOver) -> None:
        session = self.sessions.get(msg.device_id)
        if session is not None and session.session_id != msg.session_id:
            self._replaced(msg.device_id, session)

    @handler(Overflow.NEVER_DROP)
    async def sessions_taken_over(self, msg: SessionsTakenOver) -> None:
        for device_id, session_id, opened_at in msg.sessions:
            session = self.sessions.get(device_id)
            # Only an older session gives way: a late word about a session this one
            # replaced (the screen moved here since) must not close it.
            if (
                session is not None
                and session.session_id != session_id
                and session.opened_at <= opened_at
            ):
                self._replaced(device_id, session)

    def _replaced(self, device_id: UUID, session: LocalSession) -> None:
        self._forget(device_id)
        _tell(
            session.ref, CloseSession(code=CloseCode.REPLACED, reason="replaced by a newer session")
        )

    @handler(Overflow.NEVER_DROP)
    async def tenant_suspended(self, msg: TenantSuspended) -> None:
        for device_id in list(self.sessions):
            self._close(device_id, CloseCode.UNAUTHORIZED, "tenant suspended")

    @handler(Overflow.NEVER_DROP)
    async def device_updated(self, msg: DeviceUpdated) -> None:
        session = self.sessions.get(msg.device_id)
        if session is None:
            return
        self._regroup(msg.device_id, session, msg.groups, msg.timezone)
        self._epoch += 1
        self._touched[msg.device_id] = self._epoch

    @handler(Overflow.COALESCE)
    async def resync(self, msg: Resync) -> None:
        """Reconcile the local sessions with PostgreSQL (the reconciler asks, after a relay
        gap and periodically): it reads in its own task and answers :class:`Reconciled`."""
        self.resyncs += 1
        if not self.sessions:
            return
        snapshot = {device_id: s.session_id for device_id, s in self.sessions.items()}
        self._reconciler.request(self.tenant_id, self.ref, snapshot, self._epoch)

    @handler(Overflow.COALESCE)
    async def reconciled(self, msg: Reconciled) -> None:
        """Close what PostgreSQL no longer allows; regroup what changed meanwhile."""
        allowed = msg.allowed
        for device_id, session_id in msg.asked.items():
            session = self.sessions.get(device_id)
            if session is None or session.session_id != session_id:
                continue  # ended or replaced since the snapshot: checked at its opening
            if self._touched.get(device_id, 0) > msg.epoch:
                continue  # a newer event already set it
            current = allowed.get(device_id)
            if current is None or current.secret_digest != session.secret_digest:
                self._close(device_id, CloseCode.UNAUTHORIZED, "device secret no longer valid")
            elif current.groups != session.groups:
                self._regroup(device_id, session, current.groups, current.timezone)
        if self._manifests is not None:
            # Manifest notices the gap may have eaten: sessions behind get the newer one,
            # openings no cached frame that may be older.
            self._manifests.forget(self.tenant_id, None)
            self._manifests.deliver(self.tenant_id, self.sessions.items())

    def _regroup(
        self, device_id: UUID, session: LocalSession, groups: tuple[str, ...], timezone: str
    ) -> None:
        self._forget(device_id)
        self.sessions[device_id] = LocalSession(
            session.ref,
            session.outbox,
            groups,
            session.secret_digest,
            session.session_id,
            session.opened_at,
        )
        for group in groups:
            self.by_group.setdefault(group, set()).add(device_id)
        for frame in self.emergencies.regrouped(device_id, session.groups, groups):
            session.outbox.put_urgent(frame)
        _tell(session.ref, Regroup(groups=groups, timezone=timezone))
        _tell(session.ref, _FLUSH)

    def _close(self, device_id: UUID, code: int, reason: str) -> None:
        session = self.sessions.get(device_id)
        if session is None:
            return
        self._forget(device_id)
        _tell(session.ref, CloseSession(code=code, reason=reason, frame=_REVOKED))

    # -- manifests -------------------------------------------------------------------------

    @handler(Overflow.NEVER_DROP)
    async def manifests_changed(self, msg: ManifestsChanged) -> None:
        """Another node stored new manifest versions (this node's own are handed to its
        sessions by the feed directly): the feed reads and pushes them (never here: this
        actor never waits for PostgreSQL on its fan-out path)."""
        if self._manifests is None:
            return
        self._manifests.forget(self.tenant_id, msg.device_ids)  # openings read them anew
        if not self.sessions:
            return
        if msg.device_ids is None:
            self._manifests.deliver(self.tenant_id, self.sessions.items())
            return
        sessions = self.sessions
        self._manifests.deliver(
            self.tenant_id, ((d, sessions[d]) for d in msg.device_ids if d in sessions)
        )

    # -- emergencies -----------------------------------------------------------------------

    @handler(Overflow.NEVER_DROP)
    async def emergency_event(self, msg: EmergencyStarted | EmergencyEnded) -> None:
        """An emergency started or ended (from this node's use case or the relay)."""
        fanout = self.emergencies.heard(msg)
        if fanout is not None:
            self._fan_out((fanout,))
        if self.emergencies.has_gap:
            self.emergencies.request_catch_up(self.ref)

    @handler(Overflow.NEVER_DROP)
    async def caught_up(self, msg: CaughtUp) -> None:
        """What the emergency watch read for this actor (it decided it was behind)."""
        self._fan_out(self.emergencies.caught_up(msg, self.ref))

    def _fan_out(self, fanouts: Iterable[Fanout]) -> None:
        """Queue each fan-out's one frame in every targeted local session's outbox."""
        for fanout in fanouts:
            started = time.perf_counter()
            sessions = self.targets(fanout.target)
            self.emergencies.fanned_out(self.push_urgent(sessions, fanout.frame), started)

    # -- fan-out ---------------------------------------------------------------------------

    def targets(self, target: Target) -> list[LocalSession]:
        """The local sessions ``target`` selects, each once (by index, never a scan)."""
        match target:
            case TenantTarget():
                return list(self.sessions.values())
            case GroupTarget(groups=groups):
                chosen: set[UUID] = set()
                for group in groups:
                    chosen |= self.by_group.get(group, set())
                return [self.sessions[d] for d in chosen]
            case DeviceTarget(device_ids=device_ids):
                return [self.sessions[d] for d in device_ids if d in self.sessions]

    @staticmethod
    def push_urgent(sessions: Iterable[LocalSession], frame: str) -> int:
        """Hand one pre-encoded never-drop frame to each session: straight to the screen
        when its actor is idle and the connection takes it at once (the outbox's direct
        lane: no queue, no wake-up), else queued in its outbox with its actor woken.
        Returns how many sessions were handed the frame. Never awaits a screen."""
        flush = _FLUSH
        count = 0
        for session in sessions:
            outbox = session.outbox
            if outbox.send_now(frame):
                count += 1
                continue
            outbox.put_urgent(frame)
            if _tell(session.ref, flush):
                count += 1
        return count

    def summary(self) -> TenantSummary:
        return TenantSummary(
            sessions=len(self.sessions),
            groups={g: len(m) for g, m in sorted(self.by_group.items())},
            subscribed=self._subscription is not None,
            resyncs=self.resyncs,
            emergencies=self.emergencies.summary(),
        )


_FLUSH = Flush()
_NO_LONGER_VALID = "device secret no longer valid"
_REGISTERED = SessionRegistered()
_RECHECK = SessionRegistered(recheck=True)
_REFUSED = SessionRegistered(
    refused=CloseSession(code=CloseCode.UNAUTHORIZED, reason=_NO_LONGER_VALID, frame=_REVOKED)
)


def _tell(ref: ActorRef, message: msgspec.Struct) -> bool:
    try:
        ref.tell(message)
    except ActorStopped:
        return False  # the session just ended; its SessionClosed is on the way
    return True
