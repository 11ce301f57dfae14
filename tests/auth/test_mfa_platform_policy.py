"""MFA_REQUIRED_ROLES: the platform's policy, for every tenant and the platform's users."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from actors.domain.rbac import Role
from actors.settings import ConfigError, Settings
from tests.auth.conftest import FAST_HASHING, Caller
from tests.auth.test_mfa import enrol
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(db_clean: str) -> Settings:
    return make_settings(db_clean, **FAST_HASHING, mfa_required_roles="platform_admin,tenant_admin")


async def test_the_platform_policy_restricts_its_roles_until_they_enrol(
    admin: Caller,
    new_tenant: Callable[..., Awaitable[dict[str, Any]]],
    new_user: Callable[..., Awaitable[Caller]],
) -> None:
    assert (await admin.get("/api/v1/tenants")).status_code == 403
    assert (await admin.get("/api/v1/me")).status_code == 200
    await enrol(admin)
    assert (await admin.get("/api/v1/tenants")).status_code == 200
    tenant = await new_tenant()
    tenant_admin = await new_user(tenant["id"], Role.TENANT_ADMIN)
    users = f"/api/v1/tenants/{tenant['id']}/users"
    assert (await tenant_admin.get(users)).status_code == 403
    viewer = await new_user(tenant["id"], Role.VIEWER)
    assert (await viewer.get(f"/api/v1/tenants/{tenant['id']}/devices")).status_code == 200
    await enrol(tenant_admin)
    assert (await tenant_admin.get(users)).status_code == 200


def test_an_unknown_role_in_the_platform_policy_refuses_to_start(db_clean: str) -> None:
    with pytest.raises(ConfigError, match="MFA_REQUIRED_ROLES"):
        make_settings(db_clean, mfa_required_roles="platform_admin,root")
