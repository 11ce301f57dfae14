"""Roles, permissions, and the one check every use case makes: :func:`authorize`.

The role → permission matrix is data (:data:`ROLE_PERMISSIONS`); changing who may do what
is an edit of that table, never of a use case. Use cases call ``authorize`` first, before
they read or write anything, with the tenant that owns the resource (``None`` for
platform-level resources such as the tenant list or the platform audit chain).
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING
from uuid import UUID

from actors.errors import Forbidden, NotFound

if TYPE_CHECKING:
    from actors.domain.principal import Principal


class Role(StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    PLATFORM_OPERATOR = "platform_operator"
    TENANT_ADMIN = "tenant_admin"
    EDITOR = "editor"
    APPROVER = "approver"
    SCHEDULER = "scheduler"
    EMERGENCY_OPERATOR = "emergency_operator"
    DEVICE_MANAGER = "device_manager"
    AUDITOR = "auditor"
    VIEWER = "viewer"


#: Roles a platform user (tenant ``None``) may hold; every other role needs a tenant.
PLATFORM_ROLES = frozenset({Role.PLATFORM_ADMIN, Role.PLATFORM_OPERATOR})
TENANT_ROLES = frozenset(Role) - PLATFORM_ROLES


class Permission(StrEnum):
    # Platform-level: granted to platform roles only.
    TENANT_CREATE = "tenant.create"
    TENANT_UPDATE = "tenant.update"  # rename
    TENANT_SUSPEND = "tenant.suspend"  # suspend and resume
    EMERGENCY_BROADCAST = "emergency.broadcast"  # every tenant at once
    OPS_READ = "ops.read"  # nodes, actors
    # Tenant-level (platform_admin holds them in every tenant).
    TENANT_READ = "tenant.read"  # with tenant None: list every tenant
    USER_READ = "user.read"
    USER_MANAGE = "user.manage"  # create, change roles, disable
    INTEGRATION_MANAGE = "integration.manage"  # create, list, revoke integration credentials
    SSO_MANAGE = "sso.manage"  # configure the tenant's (or, platform: the platform's) SSO
    WEBHOOK_MANAGE = "webhook.manage"  # create, list, delete webhook endpoints; their logs
    AUDIT_READ = "audit.read"  # with tenant None: the platform chain
    AUDIT_VERIFY = "audit.verify"
    AUDIT_EXPORT = "audit.export"
    DEVICE_READ = "device.read"  # list, presence, manifest
    DEVICE_MANAGE = "device.manage"  # claim, rename, group, revoke, rotate secret
    CONTENT_READ = "content.read"  # content and playlists
    CONTENT_EDIT = "content.edit"  # create, upload, submit, archive
    CONTENT_APPROVE = "content.approve"  # approve, reject (four eyes: checked by the use case)
    PLAYLIST_EDIT = "playlist.edit"
    SCHEDULE_READ = "schedule.read"
    SCHEDULE_EDIT = "schedule.edit"
    EMERGENCY_READ = "emergency.read"
    EMERGENCY_TRIGGER = "emergency.trigger"  # trigger and clear, within one tenant
    CAP_CONFIGURE = "cap.configure"  # the tenant's CAP area mapping
    # Write, approve (four eyes: checked by the use case) and archive emergency templates.
    EMERGENCY_TEMPLATE_EDIT = "emergency.template"
    PLAY_READ = "play.read"  # proof-of-play reports and their CSV export


P = Permission
_READ = frozenset(
    {P.TENANT_READ, P.DEVICE_READ, P.CONTENT_READ, P.SCHEDULE_READ, P.EMERGENCY_READ, P.PLAY_READ}
)
_AUDIT = frozenset({P.AUDIT_READ, P.AUDIT_VERIFY, P.AUDIT_EXPORT})
_PLATFORM_ONLY = frozenset(
    {P.TENANT_CREATE, P.TENANT_UPDATE, P.TENANT_SUSPEND, P.EMERGENCY_BROADCAST, P.OPS_READ}
)

#: Who may do what. ``viewer+`` in API.md means: every tenant role includes ``viewer``'s.
ROLE_PERMISSIONS: MappingProxyType[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.PLATFORM_ADMIN: frozenset(Permission),
        Role.PLATFORM_OPERATOR: frozenset(
            {P.TENANT_READ, P.OPS_READ, P.DEVICE_READ, P.EMERGENCY_READ}
        ),
        Role.TENANT_ADMIN: frozenset(Permission) - _PLATFORM_ONLY,
        Role.EDITOR: _READ | {P.CONTENT_EDIT, P.PLAYLIST_EDIT},
        Role.APPROVER: _READ | {P.CONTENT_APPROVE},
        Role.SCHEDULER: _READ | {P.SCHEDULE_EDIT},
        Role.EMERGENCY_OPERATOR: _READ | {P.EMERGENCY_TRIGGER, P.EMERGENCY_TEMPLATE_EDIT},
        Role.DEVICE_MANAGER: _READ | {P.DEVICE_MANAGE},
        Role.AUDITOR: _READ | _AUDIT,
        Role.VIEWER: _READ,
    }
)


@cache
def permissions_of(roles: frozenset[Role]) -> frozenset[Permission]:
    """Everything ``roles`` together allow (cached: there are few distinct role sets)."""
    return frozenset().union(*(ROLE_PERMISSIONS[role] for role in roles))


def authorize(who: Principal, permission: Permission, tenant_id: UUID | None) -> None:
    """Allow ``who`` to use ``permission`` on a resource owned by ``tenant_id``, or raise.

    ``tenant_id`` is the resource's owner: ``None`` for platform-level resources. Call it
    before reading anything, so a refusal never depends on (or reveals) stored data.

    :raises NotFound: if ``who`` belongs to another tenant than ``tenant_id`` — whatever
        their roles, they must not learn that the resource exists.
    :raises Forbidden: if ``who``'s roles lack ``permission``, or a tenant user asks for a
        platform-level resource.
    """
    if who.tenant_id is not None:
        if tenant_id is None:
            raise Forbidden("this is a platform-level resource")
        if tenant_id != who.tenant_id:
            raise NotFound("no such resource")
    if permission not in who.permissions:
        raise Forbidden(f"your roles do not allow {permission.value}")
