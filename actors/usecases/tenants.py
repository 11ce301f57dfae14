"""Tenants: create, list, read, rename, suspend, resume (platform admins)."""

from __future__ import annotations

from uuid import UUID

import msgspec

from actors.domain.principal import Principal
from actors.domain.rbac import Permission, authorize
from actors.domain.tenants import Tenant, TenantName, TenantSlug, TenantStatus
from actors.errors import NotFound
from actors.events import TenantSuspended
from actors.pagination import ByCreation, Page, PageRequest, Paging
from actors.ports.events import TenantEvents
from actors.ports.uow import UnitOfWork


class CreateTenant(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: TenantName
    slug: TenantSlug


class RenameTenant(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: TenantName


class TenantQuery(Paging, frozen=True, forbid_unknown_fields=True):
    """``GET /tenants?limit=&cursor=``: oldest first."""


class TenantList(msgspec.Struct, frozen=True):
    items: list[Tenant]
    #: The cursor of the next page; ``null`` on the last one.
    next_cursor: str | None = None


class Tenants:
    """Tenant lifecycle. Changes are audited on the platform chain (they are platform
    actions); suspending ends every session of the tenant's users at once."""

    def __init__(self, uow: UnitOfWork, events: TenantEvents) -> None:
        self._uow = uow
        self._events = events

    async def create(self, who: Principal, cmd: CreateTenant) -> Tenant:
        """:raises Conflict: if the slug is taken."""
        authorize(who, Permission.TENANT_CREATE, None)
        async with self._uow.platform() as tx:
            tenant = await tx.tenants.create(name=cmd.name, slug=cmd.slug)
            await tx.audit.append(None, who, "tenant.create", target=tenant.ref, after=tenant)
        return tenant

    async def list(self, who: Principal, page: PageRequest[ByCreation]) -> Page[Tenant, ByCreation]:
        """One page of every tenant, oldest first."""
        authorize(who, Permission.TENANT_READ, None)
        async with self._uow.platform() as tx:
            rows = await tx.tenants.page(page)
        return page.page(rows, lambda t: ByCreation(t.created_at, t.id))

    async def get(self, who: Principal, tenant_id: UUID) -> Tenant:
        authorize(who, Permission.TENANT_READ, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            tenant = await tx.tenants.get(tenant_id)
        if tenant is None:
            raise NotFound("no such tenant")
        return tenant

    async def rename(self, who: Principal, tenant_id: UUID, cmd: RenameTenant) -> Tenant:
        authorize(who, Permission.TENANT_UPDATE, tenant_id)
        async with self._uow.platform() as tx:
            before = await tx.tenants.get(tenant_id, for_update=True)
            if before is None:
                raise NotFound("no such tenant")
            if before.name == cmd.name:
                return before
            after = await tx.tenants.update(tenant_id, name=cmd.name)
            await tx.audit.append(
                None, who, "tenant.rename", target=after.ref, before=before, after=after
            )
        return after

    async def suspend(self, who: Principal, tenant_id: UUID) -> Tenant:
        """Suspend (idempotent): the tenant's users can no longer log in and every one of
        their sessions ends now, access tokens included."""
        return await self._set_status(who, tenant_id, "suspended")

    async def resume(self, who: Principal, tenant_id: UUID) -> Tenant:
        """Resume (idempotent). Sessions ended by the suspension stay ended."""
        return await self._set_status(who, tenant_id, "active")

    async def _set_status(self, who: Principal, tenant_id: UUID, status: TenantStatus) -> Tenant:
        authorize(who, Permission.TENANT_SUSPEND, tenant_id)
        async with self._uow.platform() as tx:
            before = await tx.tenants.get(tenant_id, for_update=True)
            if before is None:
                raise NotFound("no such tenant")
            if before.status == status:
                return before
            after = await tx.tenants.update(tenant_id, status=status)
            revoked = 0
            if status == "suspended":
                revoked = await tx.sessions.revoke_tenant(tenant_id, "tenant_suspended")
            action = "tenant.suspend" if status == "suspended" else "tenant.resume"
            await tx.audit.append(
                None,
                who,
                action,
                target=after.ref,
                before=before,
                after=after,
                details={"sessions_revoked": revoked},
            )
        if status == "suspended":
            # After commit: every node closes the tenant's device sessions (4401).
            await self._events.publish(tenant_id, TenantSuspended())
        return after
