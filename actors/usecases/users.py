"""Admin users: create, list, change roles, disable/enable, reset a password, the tenant's
second-factor policy; and provisioning for operators (``signage create-admin``,
``signage reset-password``, the development bootstrap admin)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import msgspec

from actors.domain.principal import AuditActor, Principal
from actors.domain.rbac import Permission, Role, authorize
from actors.domain.throttle import account_key
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
from actors.ports.accounts import PasswordHasher
from actors.ports.uow import Tx, UnitOfWork


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


#: Default lifetime of a one-time password from a reset (TEMPORARY_PASSWORD_TTL_S).
DEFAULT_TEMPORARY_PASSWORD_TTL_S = 72 * 3600
#: 128 random bits, typed once by the user: long enough, short enough to read out.
TEMPORARY_PASSWORD_BYTES = 16


class PasswordReset(msgspec.Struct, frozen=True):
    """An admin reset's answer. ``temporary_password`` is shown once: hand it to the user
    out of band; it logs in once, must then be changed, and expires unused."""

    user_id: UUID
    temporary_password: str | None
    expires_at: datetime | None
    must_change_password: bool
    sessions_revoked: int
    mfa_disabled: bool


class MfaPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Roles of the tenant whose users must have a second factor (on top of the
    platform's MFA_REQUIRED_ROLES). Users holding one without a second factor can only
    enrol one until they do."""

    required_roles: list[Role]


class Users:
    def __init__(
        self,
        uow: UnitOfWork,
        passwords: PasswordHasher,
        *,
        temporary_password_ttl_s: int = DEFAULT_TEMPORARY_PASSWORD_TTL_S,
    ) -> None:
        self._uow = uow
        self._passwords = passwords
        self._temporary_ttl_s = temporary_password_ttl_s

    async def create(self, who: Principal, tenant_id: UUID, cmd: CreateUser) -> User:
        """:raises Conflict: if the email is taken (in any tenant: emails are global)."""
        authorize(who, Permission.USER_MANAGE, tenant_id)
        email = normalize_email(cmd.email)
        roles = role_set(tenant_id, cmd.roles)
        check_password(cmd.password, email=email)
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
        actor: AuditActor,
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
        check_password(password, email=email)
        password_hash = await self._passwords.hash(password)
        async with self._uow.scoped(tenant_id) as tx:
            if tenant_id is not None:
                await _require_tenant(tx, tenant_id)
            user = await tx.users.create(
                tenant_id=tenant_id, email=email, password_hash=password_hash, roles=chosen
            )
            await tx.audit.append(tenant_id, actor, "user.create", target=user.ref, after=user)
        return user

    async def reset_password(self, who: Principal, tenant_id: UUID, user_id: UUID) -> PasswordReset:
        """Give a user of the tenant a one-time password (shown once in the answer), end
        all their sessions, remove their second factor and lift any login block on the
        account. Audited as ``user.password_reset``.

        :raises NotFound: if there is no such user in the tenant.
        :raises Conflict: for one's own account (use ``POST /api/v1/me/password``).
        """
        authorize(who, Permission.USER_MANAGE, tenant_id)
        if user_id == who.user_id:
            raise Conflict("change your own password with POST /api/v1/me/password")
        temporary = secrets.token_urlsafe(TEMPORARY_PASSWORD_BYTES)
        password_hash = await self._passwords.hash(temporary)
        async with self._uow.tenant(tenant_id) as tx:
            user = await tx.users.get(tenant_id, user_id, for_update=True)
            if user is None:
                raise NotFound("no such user")
            reset = await self._reset(tx, user, password_hash, temporary, who)
        return reset

    async def operator_reset_password(
        self, email: str, password: str | None, *, actor: AuditActor
    ) -> tuple[User, PasswordReset]:
        """``signage reset-password``: no authorization check (shell access), any account,
        platform users included. With ``password`` it becomes the password (checked
        against the rules); without, a one-time password is made as by an admin reset.
        Sessions end and the second factor is removed either way.

        :raises Invalid: for a bad email or a password that breaks the rules.
        :raises NotFound: if no account has that email.
        """
        email = normalize_email(email)
        if password is not None:
            check_password(password, email=email)
        async with self._uow.anonymous() as tx:
            candidate = await tx.users.login_candidate(email)
        if candidate is None:
            raise NotFound("no account has this email")
        secret = (
            password if password is not None else secrets.token_urlsafe(TEMPORARY_PASSWORD_BYTES)
        )
        temporary = None if password is not None else secret
        password_hash = await self._passwords.hash(secret)
        tid = candidate.tenant_id
        async with self._uow.scoped(tid) as tx:
            user = await tx.users.get(tid, candidate.user_id, for_update=True)
            if user is None:
                raise NotFound("no account has this email")
            reset = await self._reset(tx, user, password_hash, temporary, actor)
        return user, reset

    async def _reset(
        self,
        tx: Tx,
        user: User,
        password_hash: str,
        temporary: str | None,
        who: Principal | AuditActor,
    ) -> PasswordReset:
        tid = user.tenant_id
        ttl = self._temporary_ttl_s if temporary is not None else None
        expires_at = await tx.users.set_password(tid, user.id, password_hash, temporary_for_s=ttl)
        revoked = await tx.sessions.revoke_user(tid, user.id, "password_reset")
        mfa_disabled = await tx.mfa.remove(tid, user.id)
        await tx.throttle.clear(account_key(user.email))
        await tx.audit.append(
            tid,
            who,
            "user.password_reset",
            target=user.ref,
            details={
                "temporary": temporary is not None,
                "sessions_revoked": revoked,
                "mfa_disabled": mfa_disabled,
            },
        )
        return PasswordReset(
            user_id=user.id,
            temporary_password=temporary,
            expires_at=expires_at,
            must_change_password=temporary is not None,
            sessions_revoked=revoked,
            mfa_disabled=mfa_disabled,
        )

    async def mfa_policy(self, who: Principal, tenant_id: UUID) -> MfaPolicy:
        authorize(who, Permission.USER_READ, tenant_id)
        async with self._uow.tenant(tenant_id) as tx:
            await _require_tenant(tx, tenant_id)
            return MfaPolicy(required_roles=list(await tx.mfa.policy(tenant_id)))

    async def set_mfa_policy(self, who: Principal, tenant_id: UUID, cmd: MfaPolicy) -> MfaPolicy:
        """Replace the tenant's policy; audited as ``tenant.mfa_policy`` (before/after).

        :raises Invalid: (field ``required_roles``) for a platform role.
        """
        authorize(who, Permission.USER_MANAGE, tenant_id)
        roles = role_set(tenant_id, cmd.required_roles) if cmd.required_roles else ()
        async with self._uow.tenant(tenant_id) as tx:
            await _require_tenant(tx, tenant_id)
            before = await tx.mfa.policy(tenant_id)
            await tx.mfa.set_policy(tenant_id, roles)
            await tx.audit.append(
                tenant_id,
                who,
                "tenant.mfa_policy",
                target=f"tenant:{tenant_id}",
                before={"required_roles": list(before)},
                after={"required_roles": list(roles)},
            )
        return MfaPolicy(required_roles=list(roles))

    async def platform_admin_exists(self) -> bool:
        async with self._uow.platform() as tx:
            return await tx.users.platform_admin_exists()


async def _require_tenant(tx: Tx, tenant_id: UUID) -> None:
    if await tx.tenants.get(tenant_id) is None:
        raise NotFound("no such tenant")
