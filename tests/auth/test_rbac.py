"""The role → permission matrix and ``authorize`` (pure)."""

from __future__ import annotations

import uuid

import pytest

from actors.domain.principal import Principal
from actors.domain.rbac import (
    PLATFORM_ROLES,
    ROLE_PERMISSIONS,
    TENANT_ROLES,
    Permission,
    Role,
    authorize,
)
from actors.errors import Forbidden, NotFound

TENANT = uuid.uuid4()
OTHER = uuid.uuid4()
PLATFORM_ONLY = {
    Permission.TENANT_CREATE,
    Permission.TENANT_UPDATE,
    Permission.TENANT_SUSPEND,
    Permission.EMERGENCY_BROADCAST,
    Permission.OPS_READ,
}


def principal(*roles: Role, tenant: uuid.UUID | None = TENANT) -> Principal:
    return Principal(
        user_id=uuid.uuid4(), tenant_id=tenant, email="u@x.test", roles=frozenset(roles)
    )


def test_every_role_has_a_row() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)


def test_platform_admin_may_do_everything() -> None:
    assert ROLE_PERMISSIONS[Role.PLATFORM_ADMIN] == frozenset(Permission)


def test_tenant_roles_never_hold_platform_permissions() -> None:
    for role in TENANT_ROLES:
        assert not ROLE_PERMISSIONS[role] & PLATFORM_ONLY, role


def test_tenant_admin_holds_every_tenant_permission() -> None:
    assert ROLE_PERMISSIONS[Role.TENANT_ADMIN] == frozenset(Permission) - PLATFORM_ONLY


def test_every_tenant_role_includes_viewer() -> None:
    for role in TENANT_ROLES:
        assert ROLE_PERMISSIONS[Role.VIEWER] <= ROLE_PERMISSIONS[role], role


def test_platform_operator_is_read_only() -> None:
    perms = ROLE_PERMISSIONS[Role.PLATFORM_OPERATOR]
    assert all(p.value.endswith(".read") for p in perms)
    assert Permission.OPS_READ in perms


@pytest.mark.parametrize(
    ("role", "permission"),
    [
        (Role.EDITOR, Permission.CONTENT_EDIT),
        (Role.EDITOR, Permission.PLAYLIST_EDIT),
        (Role.APPROVER, Permission.CONTENT_APPROVE),
        (Role.SCHEDULER, Permission.SCHEDULE_EDIT),
        (Role.EMERGENCY_OPERATOR, Permission.EMERGENCY_TRIGGER),
        (Role.DEVICE_MANAGER, Permission.DEVICE_MANAGE),
        (Role.AUDITOR, Permission.AUDIT_VERIFY),
        (Role.AUDITOR, Permission.AUDIT_EXPORT),
        (Role.TENANT_ADMIN, Permission.USER_MANAGE),
    ],
)
def test_spec_roles_grant_their_capability(role: Role, permission: Permission) -> None:
    authorize(principal(role), permission, TENANT)
    others = TENANT_ROLES - {role, Role.TENANT_ADMIN}
    holders = {r for r in others if permission in ROLE_PERMISSIONS[r]}
    assert not holders, f"{permission} leaks to {holders}"


def test_missing_permission_is_forbidden() -> None:
    with pytest.raises(Forbidden):
        authorize(principal(Role.VIEWER), Permission.USER_MANAGE, TENANT)


def test_another_tenant_is_not_found_whatever_the_roles() -> None:
    for role in TENANT_ROLES:
        with pytest.raises(NotFound):
            authorize(principal(role), Permission.TENANT_READ, OTHER)
    # Even a permission the caller lacks: 404, never a 403 that confirms existence.
    with pytest.raises(NotFound):
        authorize(principal(Role.VIEWER), Permission.USER_MANAGE, OTHER)


def test_tenant_users_get_no_platform_resources() -> None:
    with pytest.raises(Forbidden):
        authorize(principal(Role.TENANT_ADMIN), Permission.TENANT_READ, None)
    with pytest.raises(Forbidden):
        authorize(principal(Role.AUDITOR), Permission.AUDIT_READ, None)


def test_platform_users_reach_any_tenant_within_their_permissions() -> None:
    admin = principal(Role.PLATFORM_ADMIN, tenant=None)
    for permission in Permission:
        authorize(admin, permission, TENANT)
        authorize(admin, permission, None)
    operator = principal(Role.PLATFORM_OPERATOR, tenant=None)
    authorize(operator, Permission.DEVICE_READ, OTHER)
    with pytest.raises(Forbidden):
        authorize(operator, Permission.AUDIT_READ, None)
    with pytest.raises(Forbidden):
        authorize(operator, Permission.USER_READ, TENANT)


def test_platform_roles_are_the_two_platform_ones() -> None:
    assert {Role.PLATFORM_ADMIN, Role.PLATFORM_OPERATOR} == PLATFORM_ROLES


def test_no_roles_no_permissions() -> None:
    with pytest.raises(Forbidden):
        authorize(principal(), Permission.TENANT_READ, TENANT)
