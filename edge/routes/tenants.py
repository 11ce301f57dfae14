"""Tenants: platform admins create, rename, suspend and resume them."""

from __future__ import annotations

from uuid import UUID

from quart import Response

from actors.domain.tenants import Tenant
from actors.pagination import ByCreation
from actors.usecases.tenants import CreateTenant, RenameTenant, TenantList, TenantQuery
from edge.api import ApiRouter, body, encoded, query
from edge.auth import authenticated
from edge.container import container
from edge.pagination import Pager

router = ApiRouter("tenants", __name__, tag="tenants")


@router.post(
    "/api/v1/tenants",
    summary="Create a tenant (platform_admin)",
    request=CreateTenant,
    response=Tenant,
    status=201,
    errors=(409,),
)
async def create_tenant() -> Response:
    who = await authenticated()
    cmd = await body(CreateTenant)
    return encoded(await container().tenants.create(who, cmd), status=201)


@router.get(
    "/api/v1/tenants",
    summary="Every tenant, oldest first (platform_admin, platform_operator; paged)",
    query=TenantQuery,
    response=TenantList,
)
async def list_tenants() -> Response:
    who = await authenticated()
    pager = Pager(query(TenantQuery), ByCreation, "tenants")
    found = await container().tenants.list(who, pager.request)
    return encoded(TenantList(items=found.items, next_cursor=pager.next_cursor(found)))


@router.get(
    "/api/v1/tenants/<uuid:tenant_id>",
    summary="One tenant (platform users, or that tenant's users)",
    response=Tenant,
    errors=(404,),
)
async def get_tenant(tenant_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().tenants.get(who, tenant_id))


@router.patch(
    "/api/v1/tenants/<uuid:tenant_id>",
    summary="Rename a tenant (platform_admin)",
    request=RenameTenant,
    response=Tenant,
    errors=(404,),
)
async def rename_tenant(tenant_id: UUID) -> Response:
    who = await authenticated()
    cmd = await body(RenameTenant)
    return encoded(await container().tenants.rename(who, tenant_id, cmd))


@router.post(
    "/api/v1/tenants/<uuid:tenant_id>/suspend",
    summary="Suspend a tenant: its users' sessions end, its devices are refused",
    response=Tenant,
    errors=(404,),
)
async def suspend_tenant(tenant_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().tenants.suspend(who, tenant_id))


@router.post(
    "/api/v1/tenants/<uuid:tenant_id>/resume",
    summary="Resume a suspended tenant",
    response=Tenant,
    errors=(404,),
)
async def resume_tenant(tenant_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().tenants.resume(who, tenant_id))
