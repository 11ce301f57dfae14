"""Emergencies: trigger, clear, expire, list, report — and the platform-wide broadcast.

The order of effects is the product's promise (SPEC §5.6): the emergency row, its
sequence number, its outbox event and its audit entry commit in one transaction; only
then is it published — to this node's tenant actor at once, to the others over the
relay. Nothing in the request is per device: the targeted count is one SQL count, and
fan-out happens in the tenant actors. A publication the relay drops is not lost: every
node reads the outbox it missed within ``EMERGENCY_CHECK_EVERY_S``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import UUID, uuid4

import anyio
import msgspec

from actors.domain.emergencies import (
    DeliveryReport,
    Emergency,
    EmergencyEvent,
    EndReason,
    TriggerEmergency,
)
from actors.domain.emergency_templates import EmergencyTemplate, TemplateTrigger, trigger_of
from actors.domain.principal import AuditActor, Principal
from actors.domain.rbac import Permission, authorize
from actors.domain.targets import Target, TargetSpec
from actors.domain.webhook_events import EmergencyData
from actors.domain.webhooks import EventType
from actors.errors import Conflict, Forbidden, NotFound
from actors.pagination import BySeq, Page, PageRequest, Paging
from actors.ports.devices import PresenceReader
from actors.ports.events import TenantEvents
from actors.ports.uow import Tx, UnitOfWork
from actors.protocol import EmergencyMode, Severity
from actors.usecases.webhooks import notify_in

log = logging.getLogger(__name__)

#: Who audit entries name for expiries.
EXPIRY = AuditActor.system("emergency-expiry")
#: Expired emergencies ended per sweep (the next sweep takes the rest).
EXPIRY_BATCH = 100


class EmergencyQuery(Paging, frozen=True, forbid_unknown_fields=True):
    """``GET .../emergencies?active=&limit=&cursor=``: newest first; ``active=true``
    those still showing, ``active=false`` those ended; ``mode=live`` or ``mode=drill``
    one kind only."""

    active: bool | None = None
    mode: EmergencyMode | None = None


class Triggered(msgspec.Struct, frozen=True):
    """The 201 of a trigger: ``targeted`` is PostgreSQL's count of approved devices the
    target matched at that instant; ``ended_drills``, the drills a live start ended."""

    id: UUID
    seq: int
    started_at: datetime
    expires_at: datetime | None
    targeted: int
    mode: EmergencyMode = "live"
    ended_drills: list[UUID] = msgspec.field(default_factory=list)


class BroadcastTriggered(msgspec.Struct, frozen=True):
    """The 201 of a platform-wide broadcast: ``id`` names the broadcast (every tenant's
    emergency carries it as ``broadcast_id``)."""

    id: UUID
    tenants: int
    targeted: int
    mode: EmergencyMode = "live"
    #: Tenants left out of a drill because a live emergency of theirs is active.
    skipped: int = 0


class BroadcastCleared(msgspec.Struct, frozen=True):
    id: UUID
    #: Tenants whose part was still active and is now cleared.
    cleared: int


class EmergencyView(msgspec.Struct, frozen=True, kw_only=True):
    """An emergency as admins see it."""

    id: UUID
    seq: int
    message: str
    severity: Severity
    target: TargetSpec
    targeted: int
    active: bool
    started_at: datetime
    expires_at: datetime | None
    started_by: str
    ended_at: datetime | None = None
    end_reason: EndReason | None = None
    ended_by: str | None = None
    broadcast_id: UUID | None = None
    mode: EmergencyMode = "live"

    @classmethod
    def of(cls, e: Emergency) -> EmergencyView:
        return cls(
            id=e.id,
            mode=e.mode,
            seq=e.seq,
            message=e.message,
            severity=e.severity,
            target=TargetSpec.of(e.target),
            targeted=e.targeted,
            active=e.active,
            started_at=e.started_at,
            expires_at=e.expires_at,
            started_by=e.started_by,
            ended_at=e.ended_at,
            end_reason=e.end_reason,
            ended_by=e.ended_by,
            broadcast_id=e.broadcast_id,
        )


class EmergencyDetail(EmergencyView, frozen=True, kw_only=True):
    """``GET .../emergencies/{id}``: the emergency and its delivery report."""

    delivery: DeliveryReport

    @classmethod
    def with_delivery(cls, e: Emergency, delivery: DeliveryReport) -> EmergencyDetail:
        return cls(**msgspec.structs.asdict(EmergencyView.of(e)), delivery=delivery)


class EmergencyList(msgspec.Struct, frozen=True):
    items: list[EmergencyView]
    #: The cursor of the next page; ``null`` on the last one.
    next_cursor: str | None = None


class Emergencies:
    def __init__(self, uow: UnitOfWork, events: TenantEvents, presence: PresenceReader) -> None:
        self._uow = uow
        self._events = events
        self._presence = presence

    # -- one tenant ------------------------------------------------------------------------

    async def trigger(
        self, who: Principal, tenant_id: UUID, cmd: TriggerEmergency | TemplateTrigger
    ) -> Triggered:
        """Start an emergency and fan it out: the one ``cmd`` describes, or the approved
        template it names (with its overrides), read in the same transaction.

        :raises Invalid: (422) for a target naming none or several kinds.
        :raises NotFound: (404) for a template the tenant does not have.
        :raises Conflict: (409) if the tenant is suspended (its screens are disconnected),
            or the template is not approved (pending or archived).
        """
        authorize(who, Permission.EMERGENCY_TRIGGER, tenant_id)
        source: dict[str, object] = {}
        if isinstance(cmd, TriggerEmergency):
            target: Target | None = cmd.target.resolve()
        elif cmd.target is not None:
            target = cmd.target.resolve()  # before any read, like a full trigger's
        else:
            target = None
        async with self._uow.tenant(tenant_id) as tx:
            tenant = await tx.tenants.get(tenant_id)
            if tenant is None:
                raise NotFound("no such tenant")
            if not tenant.active:
                raise Conflict("the tenant is suspended: its screens are disconnected")
            if isinstance(cmd, TemplateTrigger):
                # Held until commit: an archive or a second trigger waits for this one.
                template = await tx.emergency_templates.get(tenant_id, cmd.template_id, lock=True)
                if template is None:
                    raise NotFound("no such emergency template")
                source = _template_source(template, cmd)
                cmd = trigger_of(template, cmd)
                target = cmd.target.resolve()
            assert target is not None
            started = await start_in(
                tx,
                who,
                tenant_id,
                NewEmergency(cmd.message, cmd.severity, target, cmd.expires_in_s, cmd.mode),
            )
            if started is None:
                raise live_blocks_drill()
            await audit_start(tx, who, started, details=source)
        await publish_start(self._events, started)
        emergency = started.emergency
        return Triggered(
            id=emergency.id,
            seq=emergency.seq,
            started_at=emergency.started_at,
            expires_at=emergency.expires_at,
            targeted=emergency.targeted,
            mode=emergency.mode,
            ended_drills=[d.id for d in started.ended_drills],
        )

    async def clear(self, who: Principal, tenant_id: UUID, emergency_id: UUID) -> EmergencyView:
        """End an emergency now (idempotent: clearing an ended one changes nothing, but
        tells the nodes again, for any that missed it).

        :raises Forbidden: (403) for a tenant user clearing its tenant's part of a
            platform-wide broadcast: only a platform admin ends those.
        """
        authorize(who, Permission.EMERGENCY_TRIGGER, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            before = await tx.emergencies.get(tenant_id, emergency_id)
            if before is None:
                raise NotFound("no such emergency")
            if before.broadcast_id is not None and not who.is_platform:
                raise Forbidden("a platform-wide emergency is cleared by a platform admin")
            after = before
            if before.active:
                ended = await tx.emergencies.end(
                    tenant_id, emergency_id, reason="cleared", ended_by=who.actor.ref
                )
                if ended is not None:
                    after = ended
                    await notify_ended(tx, after)
                    await tx.audit.append(
                        tenant_id,
                        who,
                        "emergency.clear",
                        target=after.ref,
                        before=EmergencyView.of(before),
                        after=EmergencyView.of(after),
                    )
                else:  # ended meanwhile (expired, or another operator)
                    after = await tx.emergencies.get(tenant_id, emergency_id) or before
        await self._publish_end(tenant_id, after)
        return EmergencyView.of(after)

    async def list(
        self, who: Principal, tenant_id: UUID, q: EmergencyQuery, page: PageRequest[BySeq]
    ) -> Page[EmergencyView, BySeq]:
        """One page, newest first; ``active=true`` for the ones still showing."""
        authorize(who, Permission.EMERGENCY_READ, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            rows = await tx.emergencies.page(tenant_id, page, active=q.active, mode=q.mode)
        return page.page(rows, lambda e: BySeq(e.seq)).map(EmergencyView.of)

    async def get(self, who: Principal, tenant_id: UUID, emergency_id: UUID) -> EmergencyDetail:
        """The emergency with its delivery report: of the devices it targets (approved and
        matching now, or having acknowledged it), how many acknowledged, how many are
        online without having acknowledged yet, how many are offline; and the
        acknowledgement latency percentiles, from its start to each acknowledgement."""
        authorize(who, Permission.EMERGENCY_READ, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            emergency = await tx.emergencies.get(tenant_id, emergency_id)
            if emergency is None:
                raise NotFound("no such emergency")
            acks, unacked = await tx.emergencies.delivery(emergency)
        online = await self._presence.lookup(tenant_id, unacked) if unacked else {}
        report = DeliveryReport.of(acks, len(unacked), len(online))
        return EmergencyDetail.with_delivery(emergency, report)

    # -- every tenant ----------------------------------------------------------------------

    async def broadcast(self, who: Principal, cmd: TriggerEmergency) -> BroadcastTriggered:
        """Start the same emergency in every active tenant (a building-wide evacuation), in
        one transaction: audited in each tenant's chain and in the platform's."""
        authorize(who, Permission.EMERGENCY_BROADCAST, None)
        target = cmd.target.resolve()
        broadcast_id = uuid4()
        new = NewEmergency(cmd.message, cmd.severity, target, cmd.expires_in_s, cmd.mode)
        parts: list[Started] = []
        skipped = 0
        async with self._uow.platform() as tx:
            # Counters are locked in tenant id order: two broadcasts cannot deadlock.
            tenants = sorted((t for t in await tx.tenants.list() if t.active), key=lambda t: t.id)
            for tenant in tenants:
                part = await start_in(tx, who, tenant.id, new, broadcast_id=broadcast_id)
                if part is None:  # a drill, in a tenant with a live emergency
                    skipped += 1
                else:
                    parts.append(part)
            if not parts and skipped:
                raise live_blocks_drill()
            for part in parts:
                await audit_start(tx, who, part)
            started = [part.emergency for part in parts]
            targeted = sum(e.targeted for e in started)
            await tx.audit.append(
                None,
                who,
                "emergency.broadcast",
                target=f"broadcast:{broadcast_id}",
                details={
                    "message": cmd.message,
                    "severity": cmd.severity,
                    "target": TargetSpec.of(target),
                    "expires_in_s": cmd.expires_in_s,
                    "mode": cmd.mode,
                    "tenants": len(started),
                    "skipped": skipped,
                    "targeted": targeted,
                },
            )
        await self._publish_all(
            [(p.emergency.tenant_id, event) for p in parts for event in p.events()]
        )
        log.info("broadcast %s started in %d tenants", broadcast_id, len(started))
        return BroadcastTriggered(
            id=broadcast_id,
            tenants=len(started),
            targeted=targeted,
            mode=cmd.mode,
            skipped=skipped,
        )

    async def clear_broadcast(self, who: Principal, broadcast_id: UUID) -> BroadcastCleared:
        """End every tenant's part of a platform-wide broadcast (idempotent)."""
        authorize(who, Permission.EMERGENCY_BROADCAST, None)
        ended: list[Emergency] = []
        async with self._uow.platform() as tx:
            parts = await tx.emergencies.of_broadcast(broadcast_id)
            if not parts:
                raise NotFound("no such broadcast")
            before: dict[UUID, Emergency] = {}
            for part in parts:
                if not part.active:
                    continue
                after = await tx.emergencies.end(
                    part.tenant_id, part.id, reason="cleared", ended_by=who.actor.ref
                )
                if after is not None:
                    before[after.id] = part
                    ended.append(after)
                    await notify_ended(tx, after)
            # Audit entries strictly after every other write (chain locks come last).
            for after in ended:
                await tx.audit.append(
                    after.tenant_id,
                    who,
                    "emergency.clear",
                    target=after.ref,
                    before=EmergencyView.of(before[after.id]),
                    after=EmergencyView.of(after),
                )
            await tx.audit.append(
                None,
                who,
                "emergency.clear_broadcast",
                target=f"broadcast:{broadcast_id}",
                details={"tenants": len(ended)},
            )
        events: list[tuple[UUID, EmergencyEvent]] = []
        for emergency in ended:
            end = emergency.ended()
            if end is not None:
                events.append((emergency.tenant_id, end))
        await self._publish_all(events)
        return BroadcastCleared(id=broadcast_id, cleared=len(ended))

    # -- the system ------------------------------------------------------------------------

    async def expire_due(self, *, limit: int = EXPIRY_BATCH) -> int:
        """End the emergencies whose expiry has passed; returns how many this call ended.

        Every node runs it periodically: two nodes expiring the same emergency queue on
        its row and only the first writes anything (no sequence number is spent twice).
        """
        async with self._uow.platform() as tx:
            due = await tx.emergencies.due_for_expiry(limit=limit)
        count = 0
        for tenant_id, emergency_id in due:
            async with self._uow.tenant(tenant_id) as tx:
                ended = await tx.emergencies.end(
                    tenant_id, emergency_id, reason="expired", ended_by=EXPIRY.ref
                )
                if ended is None:
                    continue
                await notify_ended(tx, ended)
                await tx.audit.append(
                    tenant_id,
                    EXPIRY,
                    "emergency.expire",
                    target=ended.ref,
                    after=EmergencyView.of(ended),
                )
            await self._publish_end(tenant_id, ended)
            count += 1
        return count

    async def _publish_end(self, tenant_id: UUID, emergency: Emergency) -> None:
        end = emergency.ended()
        if end is not None:
            await self._events.publish(tenant_id, end)

    async def _publish_all(self, events: Sequence[tuple[UUID, EmergencyEvent]]) -> None:
        """Publish to many tenants at once (each is a local tell plus a relay round trip)."""
        async with anyio.create_task_group() as tg:
            for tenant_id, event in events:
                tg.start_soon(self._events.publish, tenant_id, event)


# --- starting one, under the drill rules (shared with the CAP ingest) ----------------------


def live_blocks_drill() -> Conflict:
    """The 409 of a drill asked for while a live emergency is active: a drill never
    competes with a real emergency for the screens."""
    return Conflict(
        "a live emergency is active in this tenant: a drill cannot start until it has ended"
    )


class NewEmergency(msgspec.Struct, frozen=True):
    """What a start needs, whichever way it was asked for (API, broadcast, CAP)."""

    message: str
    severity: Severity
    target: Target
    expires_in_s: int | None
    mode: EmergencyMode = "live"


class Started(msgspec.Struct, frozen=True):
    """An emergency just started, and the drills its start ended (a live one ends them)."""

    emergency: Emergency
    ended_drills: tuple[Emergency, ...] = ()

    def events(self) -> list[EmergencyEvent]:
        """What to publish once committed, in this order: the start first, so that a
        screen shows the real emergency before it withdraws the drill."""
        events: list[EmergencyEvent] = [self.emergency.started()]
        for drill in self.ended_drills:
            end = drill.ended()
            if end is not None:
                events.append(end)
        return events


async def start_in(
    tx: Tx,
    who: Principal,
    tenant_id: UUID,
    new: NewEmergency,
    *,
    emergency_id: UUID | None = None,
    broadcast_id: UUID | None = None,
) -> Started | None:
    """Start ``new`` in ``tx`` under the drill rules; ``None`` for a drill refused because
    a live emergency of the tenant is active.

    A drill takes the tenant's counter lock *before* it looks for live emergencies, so a
    live start cannot commit between the look and the drill's start. A live start ends
    every active drill of the tenant in the same transaction (after its own start: it
    holds the counter then, so no drill can start behind its back). The start and each
    drill's end are queued for the tenant's webhooks in ``tx`` (:func:`notify_ended`).
    """
    if new.mode == "drill":
        await tx.emergencies.lock_counter(tenant_id)
        if await tx.emergencies.active_live(tenant_id):
            return None
    emergency = await tx.emergencies.start(
        emergency_id=emergency_id or uuid4(),
        tenant_id=tenant_id,
        message=new.message,
        severity=new.severity,
        target=new.target,
        expires_in_s=new.expires_in_s,
        started_by=who.actor.ref,
        broadcast_id=broadcast_id,
        mode=new.mode,
    )
    drills: list[Emergency] = []
    if new.mode == "live":
        drills = await tx.emergencies.end_drills(tenant_id, ended_by=who.actor.ref)
    await notify_in(
        tx,
        tenant_id,
        EventType.EMERGENCY_TRIGGERED,
        EmergencyData.of(emergency),
        emergency.started_at,
    )
    for drill in drills:
        await notify_ended(tx, drill)
    log.info(
        "emergency %s (%s, seq %d) started for tenant %s: %d targeted, %d drills ended",
        emergency.id,
        emergency.mode,
        emergency.seq,
        tenant_id,
        emergency.targeted,
        len(drills),
    )
    return Started(emergency, tuple(drills))


async def audit_start(
    tx: Tx, who: Principal, started: Started, *, details: Mapping[str, object] | None = None
) -> None:
    """The start's audit entries: ``emergency.trigger`` (its view names the mode), and an
    ``emergency.clear`` per drill it ended, naming the live emergency that ended it;
    ``details`` (how it was asked for: the CAP message, the template) are added to each."""
    extra = dict(details or {})
    emergency = started.emergency
    await tx.audit.append(
        emergency.tenant_id,
        who,
        "emergency.trigger",
        target=emergency.ref,
        after=EmergencyView.of(emergency),
        details={"mode": emergency.mode, **extra},
    )
    for drill in started.ended_drills:
        await tx.audit.append(
            drill.tenant_id,
            who,
            "emergency.clear",
            target=drill.ref,
            after=EmergencyView.of(drill),
            details={"mode": drill.mode, "ended_by_live": emergency.ref, **extra},
        )


def _template_source(template: EmergencyTemplate, asked: TemplateTrigger) -> dict[str, object]:
    """What the trigger's audit entry says of the template: which one, and what the
    caller changed of it."""
    overrides = [name for name in ("target", "mode") if getattr(asked, name) is not None]
    return {"template_id": template.id, "template": template.name, "overrides": overrides}


async def publish_start(events: TenantEvents, started: Started) -> None:
    for event in started.events():
        await events.publish(started.emergency.tenant_id, event)


async def notify_ended(tx: Tx, emergency: Emergency) -> None:
    """Queue ``emergency.cleared`` (cleared or expired) for the tenant's webhooks, in
    ``tx``: every path that ends an emergency calls it, before its audit entry."""
    await notify_in(
        tx,
        emergency.tenant_id,
        EventType.EMERGENCY_CLEARED,
        EmergencyData.of(emergency),
        emergency.ended_at or emergency.started_at,
    )
