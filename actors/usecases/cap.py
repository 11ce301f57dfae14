"""CAP 1.2 ingest (push): an alerting system POSTs a CAP message; it starts, replaces or
ends an emergency through the same path as a trigger (docs/emergencies.md, "CAP 1.2").

One transaction per message: its ``cap_alerts`` row (the duplicate check: the same
sender and identifier again acts once), the emergency changes under the drill rules, and
their audit entries, which name the message's sender and identifier. Published after the
commit, like a trigger.

An **Update** replaces the emergency of the alert it references by ending it and starting
a new one in the same transaction (what is broadcast is evidence and never changes): the
new one takes the lower sequence number, so screens show the new text before they drop
the old. An Update with nothing showing in its thread starts one (201).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID, uuid4

import msgspec

from actors.domain.cap import (
    CapAction,
    CapAlert,
    CapAreaSettings,
    Clear,
    Ignore,
    Start,
    disposition,
    new_emergency,
)
from actors.domain.emergencies import Emergency
from actors.domain.principal import Principal
from actors.domain.rbac import Permission, authorize
from actors.errors import Conflict, NotFound
from actors.ports.cap import CapThread
from actors.ports.events import TenantEvents
from actors.ports.uow import Tx, UnitOfWork
from actors.usecases.emergencies import (
    EmergencyView,
    NewEmergency,
    Started,
    audit_start,
    live_blocks_drill,
    notify_ended,
    publish_start,
    start_in,
)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class CapResult(msgspec.Struct, frozen=True, omit_defaults=True):
    """The answer to a CAP message: what it did, to which emergency."""

    action: CapAction
    emergency_id: UUID | None = None
    #: Why nothing was shown (``ignored`` only).
    reason: str | None = None


def exercise_touches_live() -> Conflict:
    """The 409 of an Exercise or Test that references a live alert: a drill never ends or
    replaces a real emergency."""
    return Conflict(
        "this Exercise/Test message references a live alert: a drill cannot clear or "
        "replace a live emergency"
    )


class _Outcome(msgspec.Struct, frozen=True):
    """A message's answer and what to publish once committed (starts first, in order)."""

    result: CapResult
    started: tuple[Started, ...] = ()
    ended: tuple[Emergency, ...] = ()


class CapIngest:
    """Receives CAP messages for a tenant, and keeps its area mapping."""

    def __init__(
        self,
        uow: UnitOfWork,
        events: TenantEvents,
        *,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self._uow = uow
        self._events = events
        self._clock = clock

    async def receive(self, who: Principal, tenant_id: UUID, alert: CapAlert) -> CapResult:
        """Act on one CAP message (docs/emergencies.md, "CAP 1.2").

        :raises NotFound: (404) for an unknown tenant, or another tenant's.
        :raises Conflict: (409) if the tenant is suspended; for an Exercise/Test while a
            live emergency is active, or one that references a live alert.
        :raises Invalid: (422) for an Update or Cancel without references, or an Alert or
            Update without an info to show.
        """
        authorize(who, Permission.EMERGENCY_TRIGGER, tenant_id)
        wants = disposition(alert)
        async with self._uow.tenant(tenant_id) as tx:
            tenant = await tx.tenants.get(tenant_id)
            if tenant is None:
                raise NotFound("no such tenant")
            if isinstance(wants, Ignore):
                outcome = _Outcome(CapResult("ignored", reason=wants.reason))
            elif not tenant.active:
                raise Conflict("the tenant is suspended: its screens are disconnected")
            elif (seen := await tx.cap.earlier(tenant_id, alert)) is not None:
                outcome = _Outcome(CapResult("duplicate", emergency_id=seen.emergency_id))
            else:
                thread = None
                if not isinstance(wants, Start):
                    thread = await tx.cap.thread(tenant_id, alert.references)
                showing = thread.showing if thread is not None else None
                if showing is not None and alert.mode == "drill" and not showing.drill:
                    raise exercise_touches_live()
                if isinstance(wants, Clear):
                    outcome = await self._cancel(tx, who, tenant_id, alert, thread)
                else:
                    outcome = await self._show(tx, who, tenant_id, alert, thread)
        for started in outcome.started:
            await publish_start(self._events, started)
        for ended in outcome.ended:
            end = ended.ended()
            if end is not None:
                await self._events.publish(tenant_id, end)
        result = outcome.result
        log.info(
            "CAP %s/%s (%s %s) for tenant %s: %s %s%s",
            alert.sender,
            alert.identifier,
            alert.status,
            alert.msg_type,
            tenant_id,
            result.action,
            result.emergency_id or "",
            f" ({result.reason})" if result.reason else "",
        )
        return result

    async def _show(
        self, tx: Tx, who: Principal, tenant_id: UUID, alert: CapAlert, thread: CapThread | None
    ) -> _Outcome:
        """Alert or Update: start its emergency, ending the one it replaces (if showing)."""
        showing = thread.showing if thread is not None else None
        thread_id = thread.thread_id if thread is not None else uuid4()
        planned = new_emergency(alert, await tx.cap.settings(tenant_id), self._clock())
        if isinstance(planned, Ignore):
            if showing is None:
                return _Outcome(CapResult("ignored", reason=planned.reason))
            # An Update that no longer applies here (expired, or moved out of the tenant's
            # areas): what it superseded ends.
            if (
                dup := await self._record(tx, who, tenant_id, alert, thread_id, showing.id)
            ) is not None:
                return dup
            ended = await self._end(tx, who, tenant_id, showing, alert)
            result = CapResult("cleared", emergency_id=showing.id, reason=planned.reason)
            return _Outcome(result, ended=ended)
        emergency_id = uuid4()
        if (
            dup := await self._record(tx, who, tenant_id, alert, thread_id, emergency_id)
        ) is not None:
            return dup
        new = NewEmergency(
            planned.message, planned.severity, planned.target, planned.expires_in_s, planned.mode
        )
        started = await start_in(tx, who, tenant_id, new, emergency_id=emergency_id)
        if started is None:
            raise live_blocks_drill()
        replaced: Emergency | None = None
        if showing is not None and showing.id not in {d.id for d in started.ended_drills}:
            replaced = await tx.emergencies.end(
                tenant_id, showing.id, reason="cleared", ended_by=who.actor.ref
            )
            if replaced is not None:
                await notify_ended(tx, replaced)
        await audit_start(tx, who, started, details={"cap": alert.audit_details()})
        if showing is not None and replaced is not None:
            await _audit_end(tx, who, showing, replaced, alert, replaced_by=started.emergency)
        action: CapAction = "updated" if showing is not None else "triggered"
        return _Outcome(
            CapResult(action, emergency_id=emergency_id),
            started=(started,),
            ended=() if replaced is None else (replaced,),
        )

    async def _cancel(
        self, tx: Tx, who: Principal, tenant_id: UUID, alert: CapAlert, thread: CapThread | None
    ) -> _Outcome:
        """Cancel: end the thread's emergency (ended already: nothing changes)."""
        if thread is None:
            return _Outcome(
                CapResult("ignored", reason="it references no alert this tenant received")
            )
        target = thread.showing or thread.latest
        target_id = target.id if target is not None else None
        if (
            dup := await self._record(tx, who, tenant_id, alert, thread.thread_id, target_id)
        ) is not None:
            return dup
        ended: tuple[Emergency, ...] = ()
        if thread.showing is not None:
            ended = await self._end(tx, who, tenant_id, thread.showing, alert)
        return _Outcome(CapResult("cleared", emergency_id=target_id), ended=ended)

    async def _record(
        self,
        tx: Tx,
        who: Principal,
        tenant_id: UUID,
        alert: CapAlert,
        thread_id: UUID,
        emergency_id: UUID | None,
    ) -> _Outcome | None:
        """Record the message before acting on it; a duplicate's answer if a concurrent
        copy got there first."""
        earlier = await tx.cap.record(
            tenant_id,
            alert,
            thread_id=thread_id,
            emergency_id=emergency_id,
            received_by=who.actor.ref,
        )
        if earlier is None:
            return None
        return _Outcome(CapResult("duplicate", emergency_id=earlier.emergency_id))

    async def _end(
        self, tx: Tx, who: Principal, tenant_id: UUID, showing: Emergency, alert: CapAlert
    ) -> tuple[Emergency, ...]:
        after = await tx.emergencies.end(
            tenant_id, showing.id, reason="cleared", ended_by=who.actor.ref
        )
        if after is None:  # ended meanwhile (expired, or an operator)
            return ()
        await notify_ended(tx, after)
        await _audit_end(tx, who, showing, after, alert)
        return (after,)

    # -- the area mapping --------------------------------------------------------------

    async def areas(self, who: Principal, tenant_id: UUID) -> CapAreaSettings:
        """The tenant's area mapping (empty: every alert targets every screen)."""
        authorize(who, Permission.EMERGENCY_READ, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            if await tx.tenants.get(tenant_id) is None:
                raise NotFound("no such tenant")
            return await tx.cap.settings(tenant_id)

    async def set_areas(
        self, who: Principal, tenant_id: UUID, settings: CapAreaSettings
    ) -> CapAreaSettings:
        """Replace the tenant's area mapping (audited as ``cap.areas``, before and after).

        :raises Invalid: (422 naming ``areas[i]``) for an entry naming both or neither of
            ``area_desc`` and ``geocode``, or an area mapped twice.
        """
        authorize(who, Permission.CAP_CONFIGURE, tenant_id)
        settings.check()
        async with self._uow.tenant(tenant_id) as tx:
            tenant = await tx.tenants.get(tenant_id)
            if tenant is None:
                raise NotFound("no such tenant")
            before = await tx.cap.settings(tenant_id)
            if before == settings:
                return before
            await tx.cap.save_settings(tenant_id, settings, updated_by=who.actor.ref)
            await tx.audit.append(
                tenant_id, who, "cap.areas", target=tenant.ref, before=before, after=settings
            )
        return settings


async def _audit_end(
    tx: Tx,
    who: Principal,
    before: Emergency,
    after: Emergency,
    alert: CapAlert,
    *,
    replaced_by: Emergency | None = None,
) -> None:
    details: dict[str, object] = {"mode": after.mode, "cap": alert.audit_details()}
    if replaced_by is not None:
        details["replaced_by"] = replaced_by.ref
    await tx.audit.append(
        after.tenant_id,
        who,
        "emergency.clear",
        target=after.ref,
        before=EmergencyView.of(before),
        after=EmergencyView.of(after),
        details=details,
    )
