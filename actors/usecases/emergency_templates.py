"""Emergency templates: write one, have a second person approve it, list, read, archive.

The rules are the pure module's (:mod:`actors.domain.emergency_templates`); this one
orders the effects: authorize, then in one transaction lock the row, apply the rule,
write, and append the audit entry. Triggering an approved template is a trigger
(``Emergencies.trigger`` with a :class:`~actors.domain.emergency_templates.TemplateTrigger`).

Permissions: ``emergency.template`` (tenant_admin, emergency_operator) writes, approves
and archives; ``emergency.read`` (viewer+) reads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from uuid import UUID, uuid4

import msgspec

from actors.domain.emergency_templates import (
    MAX_TEMPLATES,
    CreateTemplate,
    EmergencyTemplate,
    TemplateState,
    ensure_approvable,
    ensure_archivable,
    ensure_author,
)
from actors.domain.principal import Principal
from actors.domain.rbac import Permission, authorize
from actors.domain.targets import TargetSpec
from actors.errors import Conflict, NotFound
from actors.pagination import ByName, Page, PageRequest, Paging
from actors.ports.uow import Tx, UnitOfWork
from actors.protocol import EmergencyMode, Severity


class TemplateView(msgspec.Struct, frozen=True, kw_only=True):
    """A template as admins see it."""

    id: UUID
    name: str
    message: str
    severity: Severity
    target: TargetSpec
    expires_in_s: int | None
    mode: EmergencyMode
    state: TemplateState
    created_by: str
    created_at: datetime
    approved_by: str | None = None
    approved_at: datetime | None = None
    archived_by: str | None = None
    archived_at: datetime | None = None

    @classmethod
    def of(cls, t: EmergencyTemplate) -> TemplateView:
        return cls(
            id=t.id,
            name=t.name,
            message=t.message,
            severity=t.severity,
            target=TargetSpec.of(t.target),
            expires_in_s=t.expires_in_s,
            mode=t.mode,
            state=t.state,
            created_by=t.created_by,
            created_at=t.created_at,
            approved_by=t.approved_by,
            approved_at=t.approved_at,
            archived_by=t.archived_by,
            archived_at=t.archived_at,
        )


class TemplateQuery(Paging, frozen=True, forbid_unknown_fields=True):
    """``GET .../emergency-templates?state=&limit=&cursor=``: by name then id; ``state``
    one state only (archived ones are listed too unless a state is given)."""

    state: TemplateState | None = None


class TemplateList(msgspec.Struct, frozen=True):
    items: list[TemplateView]
    #: The cursor of the next page; ``null`` on the last one.
    next_cursor: str | None = None


class EmergencyTemplates:
    def __init__(self, uow: UnitOfWork, *, max_templates: int = MAX_TEMPLATES) -> None:
        self._uow = uow
        self._max_templates = max_templates

    async def create(self, who: Principal, tenant_id: UUID, cmd: CreateTemplate) -> TemplateView:
        """A new template, pending approval.

        :raises Invalid: (422) for a target naming none or several kinds (the trigger's rule).
        :raises Forbidden: (403) for an integration credential.
        :raises Conflict: (409) for a name in use, or past ``MAX_TEMPLATES`` kept.
        """
        authorize(who, Permission.EMERGENCY_TEMPLATE_EDIT, tenant_id)
        ensure_author(who.is_person)
        target = cmd.target.resolve()
        async with self._uow.tenant(tenant_id) as tx:
            if await tx.tenants.get(tenant_id) is None:
                raise NotFound("no such tenant")
            await tx.emergency_templates.lock_quota(tenant_id)
            kept = await tx.emergency_templates.count_kept(tenant_id)
            if kept >= self._max_templates:
                raise Conflict(f"the tenant keeps {kept} templates, its limit: archive some first")
            created = await tx.emergency_templates.create(
                template_id=uuid4(),
                tenant_id=tenant_id,
                name=cmd.name,
                message=cmd.message,
                severity=cmd.severity,
                target=target,
                expires_in_s=cmd.expires_in_s,
                mode=cmd.mode,
                created_by=who.actor.ref,
            )
            view = TemplateView.of(created)
            await tx.audit.append(
                tenant_id, who, "emergency_template.create", target=created.ref, after=view
            )
        return view

    async def approve(self, who: Principal, tenant_id: UUID, template_id: UUID) -> TemplateView:
        """:raises Forbidden: (403) for its creator, or an integration credential.
        :raises Conflict: (409) unless it is pending approval."""
        return await self._transition(
            who,
            tenant_id,
            template_id,
            "emergency_template.approve",
            lambda before: ensure_approvable(before, who.actor.ref, who.is_person),
            lambda tx: tx.emergency_templates.approve(
                tenant_id, template_id, approved_by=who.actor.ref
            ),
        )

    async def archive(self, who: Principal, tenant_id: UUID, template_id: UUID) -> TemplateView:
        """Take a template out of use for good (pending or approved); its name is free
        again. Emergencies it started are not affected.

        :raises Conflict: (409) if it is archived already."""
        return await self._transition(
            who,
            tenant_id,
            template_id,
            "emergency_template.archive",
            ensure_archivable,
            lambda tx: tx.emergency_templates.archive(
                tenant_id, template_id, archived_by=who.actor.ref
            ),
        )

    async def _transition(
        self,
        who: Principal,
        tenant_id: UUID,
        template_id: UUID,
        action: str,
        check: Callable[[EmergencyTemplate], None],
        change: Callable[[Tx], Awaitable[EmergencyTemplate]],
    ) -> TemplateView:
        """One state change of a template: row locked, rule checked, changed and audited
        (before and after) in one transaction."""
        authorize(who, Permission.EMERGENCY_TEMPLATE_EDIT, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            before = await _locked(tx, tenant_id, template_id)
            check(before)
            after = await change(tx)
            view = TemplateView.of(after)
            await tx.audit.append(
                tenant_id,
                who,
                action,
                target=after.ref,
                before=TemplateView.of(before),
                after=view,
            )
        return view

    async def get(self, who: Principal, tenant_id: UUID, template_id: UUID) -> TemplateView:
        authorize(who, Permission.EMERGENCY_READ, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            found = await tx.emergency_templates.get(tenant_id, template_id)
        if found is None:
            raise NotFound("no such emergency template")
        return TemplateView.of(found)

    async def list(
        self, who: Principal, tenant_id: UUID, q: TemplateQuery, page: PageRequest[ByName]
    ) -> Page[TemplateView, ByName]:
        """One page of the tenant's templates, by name then id."""
        authorize(who, Permission.EMERGENCY_READ, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            if await tx.tenants.get(tenant_id) is None:
                raise NotFound("no such tenant")
            rows = await tx.emergency_templates.page(tenant_id, page, state=q.state)
        return page.page(rows, lambda t: ByName(t.name, t.id)).map(TemplateView.of)


async def _locked(tx: Tx, tenant_id: UUID, template_id: UUID) -> EmergencyTemplate:
    found = await tx.emergency_templates.get(tenant_id, template_id, lock=True)
    if found is None:
        raise NotFound("no such emergency template")
    return found
