"""Admin users: create, list, change roles, disable/enable; and provisioning for operators
(``signage create-admin``, the development bootstrap admin)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import msgspec

from actors.domain.principal import Actor, Principal
from actors.domain.rbac import Permission, Role, authorize
from actors.domain.users import (
    Email,
    NewPassword,
    RoleList,
    User,
    check_password,
    normalize_email,
    role_set,
)
from actors.errors import Conflict, NotFound
from actors.pagination import ByEmail, Page, PageRequest, Paging
from actors.ports import PasswordHasher, Tx, UnitOfWork


class CreateUser(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: Email
    password: NewPassword
    roles: RoleList


class UpdateUser(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A partial update: absent fields are left as they are."""

    roles: RoleList | msgspec.UnsetType = msgspec.UNSET
    disabled: bool | msgspec.UnsetType = msgspec.UNSET


class UserQuery(Paging, frozen=True, forbid_unknown_fields=True):
    """``GET .../users?limit=&cursor=``: by email."""


class UserList(msgspec.Struct, frozen=True):
    items: list[User]
    #: The cursor of the next page; ``null`` on the last one.
    next_cursor: str | None = None


class Users:
    def __init__(self, uow: UnitOfWork, passwords: PasswordHasher) -> None:
        self._uow = uow
        self._passwords = passwords

    async def create(self, who: Principal, tenant_id: UUID, cmd: CreateUser) -> User:
        """:raises Conflict: if the email is taken (in any tenant: emails are global)."""
        authorize(who, Permission.USER_MANAGE, tenant_id)
        email = normalize_email(cmd.email)
        roles = role_set(tenant_id, cmd.roles)
        check_password(cmd.password)
        # Hash before the transaction: no pooled connection waits on argon2.
        password_hash = await self._passwords.hash(cmd.password)
        async with self._uow.tenant(tenant_id) as tx:
            await _require_tenant(tx, tenant_id)
            user = await tx.users.create(
                tenant_id=tenant_id, email=email, password_hash=password_hash, roles=roles
            )
            await tx.audit.append(tenant_id, who, "user.create", target=user.ref, after=user)
        return user

    async def list(
        self, who: Principal, tenant_id: UUID, page: PageRequest[ByEmail]
    ) -> Page[User, ByEmail]:
        """One page of the tenant's users, by email."""
        authorize(who, Permission.USER_READ, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            await _require_tenant(tx, tenant_id)
            rows = await tx.users.page(tenant_id, page)
        return page.page(rows, lambda u: ByEmail(u.email, u.id))

    async def update(self, who: Principal, tenant_id: UUID, user_id: UUID, cmd: UpdateUser) -> User:
        """Change roles and/or disable or re-enable. Disabling ends every session of the
        user at once. Admins cannot disable themselves or drop their own tenant_admin
        role (409), so a tenant cannot lock itself out by accident.
        """
        authorize(who, Permission.USER_MANAGE, tenant_id)
        roles = None if cmd.roles is msgspec.UNSET else role_set(tenant_id, cmd.roles)
        disabled = None if cmd.disabled is msgspec.UNSET else cmd.disabled
        async with self._uow.tenant(tenant_id) as tx:
            before = await tx.users.get(tenant_id, user_id, for_update=True)
            if before is None:
                raise NotFound("no such user")
            if user_id == who.user_id:
                if disabled:
                    raise Conflict("you cannot disable your own account")
                if roles is not None and Role.TENANT_ADMIN not in roles:
                    raise Conflict("you cannot remove your own tenant_admin role")
            after = await tx.users.update(tenant_id, user_id, roles=roles, disabled=disabled)
            revoked = 0
            if after.disabled and not before.disabled:
                revoked = await tx.sessions.revoke_user(tenant_id, user_id, "user_disabled")
            # Audit last: the chain's lock is then held only until commit (no deadlocks).
            if after.roles != before.roles:
                await tx.audit.append(
                    tenant_id,
                    who,
                    "user.roles_change",
                    target=after.ref,
                    before={"roles": before.roles},
                    after={"roles": after.roles},
                )
            if after.disabled != before.disabled:
                await tx.audit.append(
                    tenant_id,
                    who,
                    "user.disable" if after.disabled else "user.enable",
                    target=after.ref,
                    before={"disabled": before.disabled},
                    after={"disabled": after.disabled},
                    details={"sessions_revoked": revoked},
                )
        return after

    async def provision(
        self,
        email: str,
        password: str,
        *,
        tenant_id: UUID | None = None,
        roles: Sequence[Role] = (),
        actor: Actor,
    ) -> User:
        """Create a user with no authorization check: for operators with shell access
        (``signage create-admin``, the development bootstrap), never reachable over HTTP.
        Without ``roles``: ``platform_admin`` for a platform user, else ``tenant_admin``.

        :raises Invalid: for a bad email, password or role set.
        :raises NotFound: if ``tenant_id`` names no tenant.
        :raises Conflict: if the email is taken.
        """
        email = normalize_email(email)
        default = Role.PLATFORM_ADMIN if tenant_id is None else Role.TENANT_ADMIN
        chosen = role_set(tenant_id, roles or (default,))
        check_password(password)
        password_hash = await self._passwords.hash(password)
        async with self._uow.scoped(tenant_id) as tx:
            if tenant_id is not None:
                await _require_tenant(tx, tenant_id)
            user = await tx.users.create(
                tenant_id=tenant_id, email=email, password_hash=password_hash, roles=chosen
            )
            await tx.audit.append(tenant_id, actor, "user.create", target=user.ref, after=user)
        return user

    async def platform_admin_exists(self) -> bool:
        async with self._uow.platform() as tx:
            return await tx.users.platform_admin_exists()


async def _require_tenant(tx: Tx, tenant_id: UUID) -> None:
    if await tx.tenants.get(tenant_id) is None:
        raise NotFound("no such tenant")
