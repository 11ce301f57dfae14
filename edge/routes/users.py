"""A tenant's admin users (tenant_admin within its tenant; platform_admin anywhere)."""

from __future__ import annotations

from uuid import UUID

from quart import Response

from actors.domain.users import User
from actors.pagination import ByEmail
from actors.usecases.users import (
    CreateUser,
    MfaPolicy,
    PasswordReset,
    UpdateUser,
    UserList,
    UserQuery,
)
from edge.api import ApiRouter, body, encoded, query
from edge.auth import authenticated
from edge.container import container
from edge.pagination import Pager

router = ApiRouter("users", __name__, tag="users")


@router.post(
    "/api/v1/tenants/<uuid:tenant_id>/users",
    summary="Create a user in a tenant",
    request=CreateUser,
    response=User,
    status=201,
    errors=(404, 409),
)
async def create_user(tenant_id: UUID) -> Response:
    who = await authenticated()
    cmd = await body(CreateUser)
    return encoded(await container().users.create(who, tenant_id, cmd), status=201)


@router.get(
    "/api/v1/tenants/<uuid:tenant_id>/users",
    summary="A tenant's users, by email (paged)",
    query=UserQuery,
    response=UserList,
    errors=(404,),
)
async def list_users(tenant_id: UUID) -> Response:
    who = await authenticated()
    pager = Pager(query(UserQuery), ByEmail, "users", tenant_id)
    found = await container().users.list(who, tenant_id, pager.request)
    return encoded(UserList(items=found.items, next_cursor=pager.next_cursor(found)))


@router.patch(
    "/api/v1/tenants/<uuid:tenant_id>/users/<uuid:user_id>",
    summary="Change a user's roles, or disable/enable it (disabling ends its sessions)",
    request=UpdateUser,
    response=User,
    errors=(404, 409),
)
async def update_user(tenant_id: UUID, user_id: UUID) -> Response:
    who = await authenticated()
    cmd = await body(UpdateUser)
    return encoded(await container().users.update(who, tenant_id, user_id, cmd))


@router.post(
    "/api/v1/tenants/<uuid:tenant_id>/users/<uuid:user_id>/reset-password",
    summary="Reset a user's password: a one-time password (shown once), sessions ended,"
    " second factor removed",
    response=PasswordReset,
    errors=(404, 409),
)
async def reset_password(tenant_id: UUID, user_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().users.reset_password(who, tenant_id, user_id))


@router.get(
    "/api/v1/tenants/<uuid:tenant_id>/mfa-policy",
    summary="The roles whose users must have a second factor in this tenant",
    response=MfaPolicy,
    errors=(404,),
)
async def get_mfa_policy(tenant_id: UUID) -> Response:
    who = await authenticated()
    return encoded(await container().users.mfa_policy(who, tenant_id))


@router.put(
    "/api/v1/tenants/<uuid:tenant_id>/mfa-policy",
    summary="Require a second factor for some of the tenant's roles",
    request=MfaPolicy,
    response=MfaPolicy,
    errors=(404,),
)
async def set_mfa_policy(tenant_id: UUID) -> Response:
    who = await authenticated()
    cmd = await body(MfaPolicy)
    return encoded(await container().users.set_mfa_policy(who, tenant_id, cmd))
