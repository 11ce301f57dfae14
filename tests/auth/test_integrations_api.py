"""/api/v1/tenants/{tid}/integrations: integration credentials over HTTP — created by a
tenant_admin with a token shown once, used as a bearer credential, audited as themselves,
rate-limited, revoked at once; RBAC, cross-tenant and suspension cases."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
from quart.typing import TestClientProtocol as Client

from actors.domain.rbac import Role
from actors.settings import Settings
from tests.auth.conftest import FAST_HASHING, Caller, peer
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio

NewUser = Callable[..., Awaitable[Caller]]
#: Small enough that a test reaches it; the refill is slow enough not to refill meanwhile.
BURST = 5


@pytest.fixture
def settings(db_clean: str) -> Settings:
    return make_settings(db_clean, **FAST_HASHING, integration_burst=BURST, integration_per_s=0.01)


def path(tenant: dict[str, Any]) -> str:
    return f"/api/v1/tenants/{tenant['id']}/integrations"


async def create(caller: Caller, tenant: dict[str, Any], *roles: str, name: str = "Pager") -> Any:
    response = await caller.post(path(tenant), {"name": name, "roles": list(roles)})
    body = await response.get_json()
    assert response.status_code == 201, body
    return body


async def as_token(client: Client, token: str, method: str, url: str, **kw: Any) -> Any:
    return await client.open(
        url,
        method=method,
        headers={"Authorization": f"Bearer {token}"},
        scope_base=peer(),
        **kw,
    )


async def test_a_tenant_admin_creates_one_and_its_token_is_shown_once(
    tenant: dict[str, Any], tenant_admin: Caller, settings: Settings
) -> None:
    body = await create(tenant_admin, tenant, "emergency_operator", "viewer")
    assert body["token"].startswith("sgi_")
    assert len(body["token"]) >= 47
    assert body["roles"] == ["emergency_operator", "viewer"]
    assert body["tenant_id"] == tenant["id"]
    assert body["created_by"] == f"user:{tenant_admin.user_id}"
    assert body["token_hint"] == body["token"][-4:]
    assert body["last_used_at"] is None
    listed = await (await tenant_admin.get(path(tenant))).get_json()
    assert [i["id"] for i in listed["items"]] == [body["id"]]
    assert "token" not in listed["items"][0]
    assert body["token"] not in str(listed)
    # Stored as its SHA-256 only: the token is nowhere in the database.
    assert settings.database.url is not None
    with psycopg.connect(settings.database.url) as conn:
        stored = conn.execute(
            "SELECT token_hash FROM integrations WHERE id = %s", (body["id"],)
        ).fetchone()
        audit = conn.execute("SELECT string_agg(details::text, '') FROM audit_log").fetchone()
    assert stored is not None
    assert stored[0] == hashlib.sha256(body["token"].encode()).digest()
    assert audit is not None
    assert body["token"] not in (audit[0] or "")


async def test_the_token_is_a_bearer_credential_within_its_roles(
    client: Client, tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    token = (await create(tenant_admin, tenant, "emergency_operator"))["token"]
    me = await as_token(client, token, "GET", "/api/v1/me")
    who = await me.get_json()
    assert me.status_code == 200, who
    assert who["kind"] == "integration"
    assert who["email"] == "Pager"
    assert who["roles"] == ["emergency_operator"]
    triggered = await as_token(
        client,
        token,
        "POST",
        f"/api/v1/tenants/{tenant['id']}/emergencies",
        json={"message": "Evacuate", "severity": "critical", "target": {"all": True}},
    )
    assert triggered.status_code == 201, await triggered.get_json()
    # Beyond its roles: 403, like a user's.
    users = await as_token(client, token, "GET", f"/api/v1/tenants/{tenant['id']}/users")
    assert users.status_code == 403


async def test_audit_entries_name_the_integration_not_its_creator(
    client: Client, tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    created = await create(tenant_admin, tenant, "emergency_operator", name="Fire panel")
    triggered = await as_token(
        client,
        created["token"],
        "POST",
        f"/api/v1/tenants/{tenant['id']}/emergencies",
        json={"message": "Fire", "severity": "critical", "target": {"all": True}},
    )
    emergency = await triggered.get_json()
    audit = f"/api/v1/tenants/{tenant['id']}/audit"
    trail = await (await tenant_admin.get(audit, query_string={"limit": 10})).get_json()
    by_action = {e["action"]: e for e in trail["items"]}
    assert by_action["integration.create"]["actor"] == f"user:{tenant_admin.user_id}"
    assert by_action["integration.create"]["target"] == f"integration:{created['id']}"
    trigger = by_action["emergency.trigger"]
    assert trigger["actor"] == f"integration:{created['id']}"
    assert trigger["actor_name"] == "Fire panel"
    assert trigger["target"] == f"emergency:{emergency['id']}"
    assert created["token"] not in str(trail)
    shown = await (await tenant_admin.get(f"/api/v1/tenants/{tenant['id']}/emergencies")).get_json()
    assert shown["items"][0]["started_by"] == f"integration:{created['id']}"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "X", "roles": ["platform_admin"]}, "roles"),
        ({"name": "X", "roles": ["viewer", "platform_operator"]}, "roles"),
        ({"name": "X", "roles": []}, "roles"),
        ({"name": "X", "roles": ["root"]}, "roles[0]"),
        ({"name": "", "roles": ["viewer"]}, "name"),
        ({"name": "X"}, "roles"),
        ({"name": "X", "roles": ["viewer"], "token": "sgi_mine"}, "token"),
    ],
)
async def test_bad_requests_are_422_naming_the_field(
    tenant: dict[str, Any], tenant_admin: Caller, payload: dict[str, Any], field: str
) -> None:
    response = await tenant_admin.post(path(tenant), payload)
    body = await response.get_json()
    assert response.status_code == 422, body
    assert response.content_type == "application/problem+json"
    assert body["field"] == field


async def test_a_taken_live_name_is_409_and_free_again_once_revoked(
    tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    first = await create(tenant_admin, tenant, "viewer")
    again = await tenant_admin.post(path(tenant), {"name": "Pager", "roles": ["viewer"]})
    assert again.status_code == 409
    assert (
        await tenant_admin.client.delete(
            f"{path(tenant)}/{first['id']}", headers=tenant_admin.headers
        )
    ).status_code == 204
    await create(tenant_admin, tenant, "viewer")


async def test_only_tenant_admins_manage_them(
    client: Client, tenant: dict[str, Any], new_user: NewUser, tenant_admin: Caller
) -> None:
    operator = await new_user(tenant["id"], Role.EMERGENCY_OPERATOR)
    created = await create(tenant_admin, tenant, "viewer")
    denied = await operator.post(path(tenant), {"name": "Mine", "roles": ["viewer"]})
    assert denied.status_code == 403
    assert denied.content_type == "application/problem+json"
    assert (await operator.get(path(tenant))).status_code == 403
    gone = await client.delete(f"{path(tenant)}/{created['id']}", headers=operator.headers)
    assert gone.status_code == 403
    assert (await client.get(path(tenant))).status_code == 401
    assert (await client.post(path(tenant), json={})).status_code == 401


async def test_an_integration_cannot_mint_integrations_or_act_as_a_person(
    client: Client, tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    token = (await create(tenant_admin, tenant, "tenant_admin"))["token"]
    minted = await as_token(
        client, token, "POST", path(tenant), json={"name": "Child", "roles": ["viewer"]}
    )
    body = await minted.get_json()
    assert minted.status_code == 403, body
    assert "people" in body["detail"]
    password = await as_token(
        client,
        token,
        "POST",
        "/api/v1/me/password",
        json={"current_password": "x" * 12, "new_password": "y" * 16},
    )
    assert password.status_code == 403
    assert (await as_token(client, token, "GET", "/api/v1/me/mfa")).status_code == 403
    # It may list (its roles allow it): a script can audit its tenant's credentials.
    assert (await as_token(client, token, "GET", path(tenant))).status_code == 200


async def test_other_tenants_see_404_and_foreign_tokens_open_nothing(
    client: Client,
    tenant: dict[str, Any],
    other_tenant: dict[str, Any],
    tenant_admin: Caller,
    new_user: NewUser,
) -> None:
    other_admin = await new_user(other_tenant["id"], Role.TENANT_ADMIN)
    mine = await create(tenant_admin, tenant, "tenant_admin")
    theirs = await create(other_admin, other_tenant, "tenant_admin")
    assert (await other_admin.get(path(tenant))).status_code == 404
    assert (
        await other_admin.post(path(tenant), {"name": "X", "roles": ["viewer"]})
    ).status_code == 404
    delete = await client.delete(f"{path(tenant)}/{mine['id']}", headers=other_admin.headers)
    assert delete.status_code == 404
    # Their token on our tenant: 404, as for any of their users.
    for method, url in [
        ("GET", path(tenant)),
        ("GET", f"/api/v1/tenants/{tenant['id']}/emergencies"),
        ("DELETE", f"{path(tenant)}/{mine['id']}"),
    ]:
        answer = await as_token(client, theirs["token"], method, url)
        assert answer.status_code == 404, (method, url)
    # Our admin revoking their integration through our tenant's path: not ours, 404.
    wrong = await client.delete(f"{path(tenant)}/{theirs['id']}", headers=tenant_admin.headers)
    assert wrong.status_code == 404
    assert (await as_token(client, theirs["token"], "GET", path(other_tenant))).status_code == 200


@pytest.mark.parametrize(
    "token",
    ["sgi_", "sgi_" + "A" * 43, "sgi_" + "x" * 200, "sgi_\u00e9\u00e9"],
)
async def test_unknown_or_malformed_tokens_are_401(
    client: Client, tenant: dict[str, Any], token: str
) -> None:
    answer = await as_token(client, token, "GET", path(tenant))
    body = await answer.get_json()
    assert answer.status_code == 401, body
    assert answer.content_type == "application/problem+json"
    assert token not in str(body)


async def test_revocation_refuses_the_token_from_the_next_request(
    client: Client, tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    created = await create(tenant_admin, tenant, "viewer")
    token, one = created["token"], f"{path(tenant)}/{created['id']}"
    emergencies = f"/api/v1/tenants/{tenant['id']}/emergencies"
    assert (await as_token(client, token, "GET", emergencies)).status_code == 200
    assert (await client.delete(one, headers=tenant_admin.headers)).status_code == 204
    refused = await as_token(client, token, "GET", emergencies)
    assert refused.status_code == 401
    assert (await client.delete(one, headers=tenant_admin.headers)).status_code == 404
    listed = await (await tenant_admin.get(path(tenant))).get_json()
    assert listed["items"] == []
    trail = await (
        await tenant_admin.get(
            f"/api/v1/tenants/{tenant['id']}/audit", query_string={"action": "integration.revoke"}
        )
    ).get_json()
    [entry] = trail["items"]
    assert entry["actor"] == f"user:{tenant_admin.user_id}"
    assert entry["target"] == f"integration:{created['id']}"


async def test_a_suspended_tenants_integrations_stop_until_it_resumes(
    client: Client, admin: Caller, tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    token = (await create(tenant_admin, tenant, "viewer"))["token"]
    emergencies = f"/api/v1/tenants/{tenant['id']}/emergencies"
    assert (await admin.post(f"/api/v1/tenants/{tenant['id']}/suspend")).status_code == 200
    assert (await as_token(client, token, "GET", emergencies)).status_code == 401
    assert (await admin.post(f"/api/v1/tenants/{tenant['id']}/resume")).status_code == 200
    assert (await as_token(client, token, "GET", emergencies)).status_code == 200


async def test_each_integration_is_rate_limited_on_its_own(
    client: Client, tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    busy = (await create(tenant_admin, tenant, "viewer", name="Busy"))["token"]
    calm = (await create(tenant_admin, tenant, "viewer", name="Calm"))["token"]
    emergencies = f"/api/v1/tenants/{tenant['id']}/emergencies"
    for _ in range(BURST):
        assert (await as_token(client, busy, "GET", emergencies)).status_code == 200
    refused = await as_token(client, busy, "GET", emergencies)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert (await as_token(client, calm, "GET", emergencies)).status_code == 200


async def test_the_list_is_paged_by_name(tenant: dict[str, Any], tenant_admin: Caller) -> None:
    for name in ("c", "a", "b"):
        await create(tenant_admin, tenant, "viewer", name=name)
    first = await (await tenant_admin.get(path(tenant), query_string={"limit": 2})).get_json()
    assert [i["name"] for i in first["items"]] == ["a", "b"]
    rest = await (
        await tenant_admin.get(
            path(tenant), query_string={"limit": 2, "cursor": first["next_cursor"]}
        )
    ).get_json()
    assert [i["name"] for i in rest["items"]] == ["c"]
    assert rest["next_cursor"] is None


async def test_a_platform_admin_creates_them_in_any_tenant(
    admin: Caller, tenant: dict[str, Any]
) -> None:
    body = await create(admin, tenant, "tenant_admin")
    assert body["tenant_id"] == tenant["id"]
    missing = await admin.post(
        f"/api/v1/tenants/{uuid.uuid4()}/integrations", {"name": "X", "roles": ["viewer"]}
    )
    assert missing.status_code == 404
