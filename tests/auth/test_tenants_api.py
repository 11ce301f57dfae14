"""/api/v1/tenants: success, 401, 403, 404 (other tenants), 409, 422 for every row."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from actors.domain.principal import AuditActor
from actors.domain.rbac import Role
from tests.auth.conftest import Caller, container_of, login_as

pytestmark = pytest.mark.anyio

NewUser = Callable[..., Awaitable[Caller]]


async def test_platform_admin_creates_a_tenant(admin: Caller) -> None:
    response = await admin.post("/api/v1/tenants", {"name": "Acme Hall", "slug": "acme-hall"})
    body = await response.get_json()
    assert response.status_code == 201
    assert set(body) == {"id", "name", "slug", "status", "created_at"}
    assert body["name"] == "Acme Hall"
    assert body["slug"] == "acme-hall"
    assert body["status"] == "active"
    uuid.UUID(body["id"])
    assert body["created_at"].endswith("Z")


async def test_a_taken_slug_is_409(admin: Caller, tenant: dict[str, Any]) -> None:
    response = await admin.post("/api/v1/tenants", {"name": "Other", "slug": tenant["slug"]})
    assert response.status_code == 409
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "X"}, None),
        ({"name": "X", "slug": "Upper"}, "slug"),
        ({"name": "X", "slug": "-leading"}, "slug"),
        ({"name": "X", "slug": "a" * 64}, "slug"),
        ({"name": "", "slug": "ok"}, "name"),
        ({"name": "   ", "slug": "ok"}, "name"),
        ({"name": "bad\u0000name", "slug": "ok"}, "name"),
        ({"name": "x" * 201, "slug": "ok"}, "name"),
        ({"name": "X", "slug": "ok", "status": "suspended"}, "status"),
        ({"name": 5, "slug": "ok"}, "name"),
    ],
)
async def test_invalid_tenant_is_422(
    admin: Caller, payload: dict[str, Any], field: str | None
) -> None:
    response = await admin.post("/api/v1/tenants", payload)
    body = await response.get_json()
    assert response.status_code == 422, body
    if field:
        assert body["field"] == field


async def test_not_json_is_422(admin: Caller) -> None:
    response = await admin.client.post("/api/v1/tenants", data=b"{not json", headers=admin.headers)
    assert response.status_code == 422


async def test_tenant_routes_need_a_token(client: Client) -> None:
    tid = uuid.uuid4()
    for method, path in [
        ("POST", "/api/v1/tenants"),
        ("GET", "/api/v1/tenants"),
        ("GET", f"/api/v1/tenants/{tid}"),
        ("PATCH", f"/api/v1/tenants/{tid}"),
        ("POST", f"/api/v1/tenants/{tid}/suspend"),
        ("POST", f"/api/v1/tenants/{tid}/resume"),
    ]:
        response = await client.open(path, method=method, json={})
        assert response.status_code == 401, (method, path)


async def test_tenant_users_cannot_manage_tenants(
    tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    tid = tenant["id"]
    assert (
        await tenant_admin.post("/api/v1/tenants", {"name": "n", "slug": "n"})
    ).status_code == 403
    assert (await tenant_admin.get("/api/v1/tenants")).status_code == 403
    assert (await tenant_admin.post(f"/api/v1/tenants/{tid}/suspend")).status_code == 403
    assert (await tenant_admin.post(f"/api/v1/tenants/{tid}/resume")).status_code == 403
    assert (await tenant_admin.patch(f"/api/v1/tenants/{tid}", {"name": "n"})).status_code == 403


async def test_platform_operator_reads_but_does_not_change(
    app: Any, client: Client, tenant: dict[str, Any]
) -> None:
    await container_of(app).users.provision(
        "ops@example.test",
        "operator password",
        roles=[Role.PLATFORM_OPERATOR],
        actor=AuditActor.system("tests"),
    )
    operator = await login_as(client, "ops@example.test", "operator password")
    listed = await (await operator.get("/api/v1/tenants")).get_json()
    assert [t["id"] for t in listed["items"]] == [tenant["id"]]
    assert (await operator.get(f"/api/v1/tenants/{tenant['id']}")).status_code == 200
    assert (await operator.post("/api/v1/tenants", {"name": "n", "slug": "n"})).status_code == 403
    assert (await operator.post(f"/api/v1/tenants/{tenant['id']}/suspend")).status_code == 403


async def test_list_returns_every_tenant(admin: Caller, new_tenant: Callable[..., Any]) -> None:
    made = [await new_tenant() for _ in range(3)]
    body = await (await admin.get("/api/v1/tenants")).get_json()
    assert [t["id"] for t in body["items"]] == [t["id"] for t in made]


async def test_a_tenant_reads_itself_but_not_another(
    tenant: dict[str, Any], other_tenant: dict[str, Any], new_user: NewUser
) -> None:
    viewer = await new_user(tenant["id"], Role.VIEWER)
    own = await viewer.get(f"/api/v1/tenants/{tenant['id']}")
    assert own.status_code == 200
    assert await own.get_json() == tenant
    other = await viewer.get(f"/api/v1/tenants/{other_tenant['id']}")
    assert other.status_code == 404
    unknown = await viewer.get(f"/api/v1/tenants/{uuid.uuid4()}")
    assert unknown.status_code == 404
    # Identical answers: nothing tells an existing foreign tenant from no tenant.
    other_body, unknown_body = await other.get_json(), await unknown.get_json()
    other_body.pop("request_id"), unknown_body.pop("request_id")
    assert other_body == unknown_body


async def test_unknown_tenant_is_404_for_the_platform_admin(admin: Caller) -> None:
    tid = uuid.uuid4()
    assert (await admin.get(f"/api/v1/tenants/{tid}")).status_code == 404
    assert (await admin.post(f"/api/v1/tenants/{tid}/suspend")).status_code == 404
    assert (await admin.post(f"/api/v1/tenants/{tid}/resume")).status_code == 404
    assert (await admin.patch(f"/api/v1/tenants/{tid}", {"name": "x"})).status_code == 404


async def test_malformed_tenant_id_is_404(admin: Caller) -> None:
    assert (await admin.get("/api/v1/tenants/not-a-uuid")).status_code == 404


async def test_suspend_and_resume_are_idempotent_and_audited_once(
    admin: Caller, tenant: dict[str, Any]
) -> None:
    tid = tenant["id"]
    for _ in range(2):
        response = await admin.post(f"/api/v1/tenants/{tid}/suspend")
        assert response.status_code == 200
        assert (await response.get_json())["status"] == "suspended"
    for _ in range(2):
        response = await admin.post(f"/api/v1/tenants/{tid}/resume")
        assert (await response.get_json())["status"] == "active"
    entries = (await (await admin.get("/api/v1/audit")).get_json())["items"]
    actions = [e["action"] for e in entries if e["target"] == f"tenant:{tid}"]
    assert actions == ["tenant.resume", "tenant.suspend", "tenant.create"]


async def test_rename(admin: Caller, tenant: dict[str, Any]) -> None:
    response = await admin.patch(f"/api/v1/tenants/{tenant['id']}", {"name": "New name"})
    assert response.status_code == 200
    assert (await response.get_json())["name"] == "New name"
    bad = await admin.patch(f"/api/v1/tenants/{tenant['id']}", {"slug": "x"})
    assert bad.status_code == 422
