"""/api/v1/tenants/{tid}/users: success, 401, 403, 404 (other tenants), 409, 422."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from actors.domain.rbac import Role
from tests.auth.conftest import PASSWORD, Caller, login

pytestmark = pytest.mark.anyio

NewUser = Callable[..., Awaitable[Caller]]


def users_path(tenant: dict[str, Any]) -> str:
    return f"/api/v1/tenants/{tenant['id']}/users"


async def test_tenant_admin_creates_a_user(tenant: dict[str, Any], tenant_admin: Caller) -> None:
    response = await tenant_admin.post(
        users_path(tenant),
        {"email": "Ed.Itor@Example.TEST", "password": PASSWORD, "roles": ["editor", "viewer"]},
    )
    body = await response.get_json()
    assert response.status_code == 201, body
    assert {"id", "email", "roles", "tenant_id"} <= set(body)
    assert body["email"] == "ed.itor@example.test"
    assert sorted(body["roles"]) == ["editor", "viewer"]
    assert body["tenant_id"] == tenant["id"]
    assert "password" not in str(body)
    assert "hash" not in str(body)
    # The new user logs in with the normalised or the original spelling.
    assert (await login(tenant_admin.client, "ed.itor@example.test", PASSWORD)).status_code == 200


async def test_a_taken_email_is_409_across_tenants(
    tenant: dict[str, Any], other_tenant: dict[str, Any], admin: Caller
) -> None:
    payload = {"email": "dup@example.test", "password": PASSWORD, "roles": ["viewer"]}
    assert (await admin.post(users_path(tenant), payload)).status_code == 201
    again = {**payload, "email": "DUP@example.test"}
    assert (await admin.post(users_path(tenant), again)).status_code == 409
    assert (await admin.post(users_path(other_tenant), again)).status_code == 409


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "a@b.c", "password": "short", "roles": ["viewer"]}, "password"),
        ({"email": "a@b.c", "password": "x" * 129, "roles": ["viewer"]}, "password"),
        ({"email": "nope", "password": PASSWORD, "roles": ["viewer"]}, "email"),
        ({"email": "a@b.c", "password": PASSWORD, "roles": []}, "roles"),
        ({"email": "a@b.c", "password": PASSWORD, "roles": ["root"]}, "roles[0]"),
        ({"email": "a@b.c", "password": PASSWORD, "roles": ["platform_admin"]}, "roles"),
        ({"email": "a@b.c", "password": PASSWORD}, None),
        ({"email": "a@b.c", "password": PASSWORD, "roles": ["viewer"], "admin": True}, "admin"),
    ],
)
async def test_invalid_user_is_422(
    tenant: dict[str, Any], tenant_admin: Caller, payload: dict[str, Any], field: str | None
) -> None:
    response = await tenant_admin.post(users_path(tenant), payload)
    body = await response.get_json()
    assert response.status_code == 422, body
    if field:
        assert body["field"] == field


async def test_user_routes_need_a_token(client: Client, tenant: dict[str, Any]) -> None:
    path = users_path(tenant)
    assert (await client.get(path)).status_code == 401
    assert (await client.post(path, json={})).status_code == 401
    assert (await client.patch(f"{path}/{uuid.uuid4()}", json={})).status_code == 401


@pytest.mark.parametrize("role", [r for r in Role if r.value.startswith(("e", "a", "s", "d", "v"))])
async def test_only_tenant_admins_manage_users(
    tenant: dict[str, Any], new_user: NewUser, tenant_admin: Caller, role: Role
) -> None:
    user = await new_user(tenant["id"], role)
    payload = {"email": "x@example.test", "password": PASSWORD, "roles": ["viewer"]}
    assert (await user.post(users_path(tenant), payload)).status_code == 403
    assert (await user.get(users_path(tenant))).status_code == 403
    patch = await user.patch(f"{users_path(tenant)}/{tenant_admin.user_id}", {"disabled": True})
    assert patch.status_code == 403


async def test_another_tenants_users_are_404(
    tenant: dict[str, Any],
    other_tenant: dict[str, Any],
    tenant_admin: Caller,
    new_user: NewUser,
) -> None:
    foreign = await new_user(other_tenant["id"], Role.VIEWER)
    payload = {"email": "x@example.test", "password": PASSWORD, "roles": ["viewer"]}
    assert (await tenant_admin.get(users_path(other_tenant))).status_code == 404
    assert (await tenant_admin.post(users_path(other_tenant), payload)).status_code == 404
    patch = await tenant_admin.patch(
        f"{users_path(other_tenant)}/{foreign.user_id}", {"disabled": True}
    )
    assert patch.status_code == 404
    # Addressing the foreign user through one's own tenant finds nothing either.
    patch = await tenant_admin.patch(
        f"{users_path(tenant)}/{foreign.user_id}", {"roles": ["viewer"]}
    )
    assert patch.status_code == 404
    assert (await foreign.get("/api/v1/me")).status_code == 200


async def test_unknown_user_or_tenant_is_404(admin: Caller, tenant: dict[str, Any]) -> None:
    assert (await admin.patch(f"{users_path(tenant)}/{uuid.uuid4()}", {})).status_code == 404
    ghost = {"id": str(uuid.uuid4())}
    assert (await admin.get(users_path(ghost))).status_code == 404
    payload = {"email": "x@example.test", "password": PASSWORD, "roles": ["viewer"]}
    assert (await admin.post(users_path(ghost), payload)).status_code == 404


async def test_list_shows_the_tenants_users_only(
    tenant: dict[str, Any], other_tenant: dict[str, Any], tenant_admin: Caller, new_user: NewUser
) -> None:
    mine = await new_user(tenant["id"], Role.EDITOR)
    await new_user(other_tenant["id"], Role.EDITOR)
    body = await (await tenant_admin.get(users_path(tenant))).get_json()
    assert sorted(u["id"] for u in body["items"]) == sorted([tenant_admin.user_id, mine.user_id])
    assert all(u["tenant_id"] == tenant["id"] for u in body["items"])


async def test_update_roles_and_disable(
    tenant: dict[str, Any], tenant_admin: Caller, new_user: NewUser
) -> None:
    user = await new_user(tenant["id"], Role.VIEWER)
    path = f"{users_path(tenant)}/{user.user_id}"
    response = await tenant_admin.patch(path, {"roles": ["scheduler", "scheduler"]})
    body = await response.get_json()
    assert response.status_code == 200
    assert body["roles"] == ["scheduler"]
    response = await tenant_admin.patch(path, {"disabled": True})
    assert (await response.get_json())["disabled"] is True
    # An empty patch changes nothing.
    response = await tenant_admin.patch(path, {})
    assert (await response.get_json())["roles"] == ["scheduler"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"roles": []}, "roles"),
        ({"roles": None}, "roles"),
        ({"disabled": "yes"}, "disabled"),
        ({"email": "new@example.test"}, "email"),
        ({"roles": ["platform_operator"]}, "roles"),
    ],
)
async def test_invalid_update_is_422(
    tenant: dict[str, Any],
    tenant_admin: Caller,
    new_user: NewUser,
    payload: dict[str, Any],
    field: str,
) -> None:
    user = await new_user(tenant["id"], Role.VIEWER)
    response = await tenant_admin.patch(f"{users_path(tenant)}/{user.user_id}", payload)
    body = await response.get_json()
    assert response.status_code == 422, body
    assert body["field"] == field


async def test_admins_cannot_lock_themselves_out(
    tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    path = f"{users_path(tenant)}/{tenant_admin.user_id}"
    assert (await tenant_admin.patch(path, {"disabled": True})).status_code == 409
    assert (await tenant_admin.patch(path, {"roles": ["viewer"]})).status_code == 409
    keep = await tenant_admin.patch(path, {"roles": ["tenant_admin", "auditor"]})
    assert keep.status_code == 200


async def test_platform_admin_manages_users_in_any_tenant(
    admin: Caller, tenant: dict[str, Any], other_tenant: dict[str, Any]
) -> None:
    for t in (tenant, other_tenant):
        payload = {
            "email": f"admin@{t['slug']}.test",
            "password": PASSWORD,
            "roles": ["tenant_admin"],
        }
        response = await admin.post(users_path(t), payload)
        assert response.status_code == 201
        assert (await admin.get(users_path(t))).status_code == 200
