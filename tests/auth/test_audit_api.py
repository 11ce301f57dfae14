"""The audit trail over HTTP and in the database: written with every change, append-only,
verifiable, exportable; tampering is named; concurrent writers never fork a chain."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import psycopg
import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from actors.domain.audit import AuditEntry, ChainVerifier
from actors.domain.principal import Principal
from actors.domain.rbac import Role
from actors.domain.throttle import account_key
from actors.usecases.users import CreateUser
from store.db import Database
from tests.auth.conftest import CLIENT_IP, PASSWORD, Caller, container_of, login

pytestmark = pytest.mark.anyio

NewUser = Callable[..., Awaitable[Caller]]


def audit_path(tenant: dict[str, Any]) -> str:
    return f"/api/v1/tenants/{tenant['id']}/audit"


async def entries(caller: Caller, path: str, **params: Any) -> list[dict[str, Any]]:
    response = await caller.get(path, query_string=params)
    body = await response.get_json()
    assert response.status_code == 200, body
    return list(body["items"])


async def test_a_change_and_its_entry_commit_together(
    tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    tenant_admin.extra_headers["X-Request-ID"] = "req-create-1"
    response = await tenant_admin.post(
        f"/api/v1/tenants/{tenant['id']}/users",
        {"email": "new@example.test", "password": PASSWORD, "roles": ["editor"]},
    )
    user = await response.get_json()
    entry = (await entries(tenant_admin, audit_path(tenant), action="user.create"))[0]
    assert {
        "id",
        "at",
        "actor",
        "action",
        "target",
        "details",
        "request_id",
        "hash",
        "prev_hash",
    } <= entry.keys()
    assert entry["actor"] == f"user:{tenant_admin.user_id}"
    assert entry["actor_name"] == tenant_admin.email
    assert entry["target"] == f"user:{user['id']}"
    assert entry["details"]["after"]["email"] == "new@example.test"
    assert entry["request_id"] == "req-create-1"
    assert entry["source_ip"] == CLIENT_IP
    assert entry["tenant_id"] == tenant["id"]
    assert len(entry["hash"]) == len(entry["prev_hash"]) == 64


async def test_a_refused_change_leaves_no_entry(
    tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    payload = {"email": tenant_admin.email, "password": PASSWORD, "roles": ["editor"]}
    response = await tenant_admin.post(f"/api/v1/tenants/{tenant['id']}/users", payload)
    assert response.status_code == 409
    created = await entries(tenant_admin, audit_path(tenant), action="user.create")
    assert [e["details"]["after"]["email"] for e in created] == [tenant_admin.email]


async def test_role_changes_record_before_and_after(
    tenant: dict[str, Any], tenant_admin: Caller, new_user: NewUser
) -> None:
    user = await new_user(tenant["id"], Role.VIEWER)
    await tenant_admin.patch(
        f"/api/v1/tenants/{tenant['id']}/users/{user.user_id}", {"roles": ["auditor"]}
    )
    [entry] = await entries(tenant_admin, audit_path(tenant), action="user.roles_change")
    assert entry["details"] == {"before": {"roles": ["viewer"]}, "after": {"roles": ["auditor"]}}


async def test_logins_are_audited_on_the_accounts_chain(
    admin: Caller, tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    await login(tenant_admin.client, tenant_admin.email, "wrong password")
    # Someone types a password into the email field: the chain must not keep it.
    await login(tenant_admin.client, "Hunter2-Secret@example.test", "wrong password")
    tenant_chain = await entries(tenant_admin, audit_path(tenant))
    failed = [e for e in tenant_chain if e["action"] == "auth.login_failed"]
    assert len(failed) == 1
    assert failed[0]["details"]["reason"] == "bad_password"
    assert failed[0]["actor"] == "anonymous"
    assert failed[0]["target"] == f"user:{tenant_admin.user_id}"
    assert any(e["action"] == "auth.login" for e in tenant_chain)
    platform_chain = await entries(admin, "/api/v1/audit", action="auth.login_failed")
    # An unknown email is named by the throttle's digest of it, never as typed.
    assert [e["target"] for e in platform_chain] == [account_key("hunter2-secret@example.test")]
    assert platform_chain[0]["actor_name"] is None
    assert platform_chain[0]["details"]["reason"] == "unknown_email"
    # Passwords never reach the trail.
    everything = str(tenant_chain) + str(await entries(admin, "/api/v1/audit"))
    assert "wrong password" not in everything
    assert "hunter2-secret" not in everything.lower()
    assert PASSWORD not in everything


async def test_platform_actions_go_to_the_platform_chain(
    admin: Caller, tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    await admin.post(f"/api/v1/tenants/{tenant['id']}/suspend")
    platform = await entries(admin, "/api/v1/audit")
    actions = [e["action"] for e in platform]
    assert "tenant.create" in actions
    assert "tenant.suspend" in actions
    suspend = next(e for e in platform if e["action"] == "tenant.suspend")
    assert suspend["details"]["before"]["status"] == "active"
    assert suspend["details"]["after"]["status"] == "suspended"
    assert suspend["details"]["sessions_revoked"] == 1
    assert all(e["tenant_id"] is None for e in platform)


async def test_platform_admin_acting_in_a_tenant_writes_that_tenants_chain(
    admin: Caller, tenant: dict[str, Any]
) -> None:
    response = await admin.post(
        f"/api/v1/tenants/{tenant['id']}/users",
        {"email": "x@example.test", "password": PASSWORD, "roles": ["viewer"]},
    )
    target = f"user:{(await response.get_json())['id']}"
    [entry] = await entries(admin, audit_path(tenant), action="user.create")
    assert entry["actor"] == f"user:{admin.user_id}"
    assert entry["target"] == target
    platform = await entries(admin, "/api/v1/audit", action="user.create")
    assert target not in [e["target"] for e in platform]


async def test_query_filters(
    tenant: dict[str, Any], tenant_admin: Caller, new_user: NewUser
) -> None:
    for _ in range(3):
        await new_user(tenant["id"], Role.VIEWER)
    all_entries = await entries(tenant_admin, audit_path(tenant))
    seqs = [e["seq"] for e in all_entries]
    assert seqs == sorted(seqs, reverse=True)
    assert len(await entries(tenant_admin, audit_path(tenant), limit=2)) == 2
    older = await entries(tenant_admin, audit_path(tenant), before=seqs[1])
    assert [e["seq"] for e in older] == seqs[2:]
    mine = await entries(tenant_admin, audit_path(tenant), actor=tenant_admin.user_id)
    assert mine
    assert all(e["actor"] == f"user:{tenant_admin.user_id}" for e in mine)
    by_email = await entries(tenant_admin, audit_path(tenant), actor=tenant_admin.email)
    assert {e["id"] for e in by_email} >= {e["id"] for e in mine}
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await entries(tenant_admin, audit_path(tenant), since=future) == []
    assert len(await entries(tenant_admin, audit_path(tenant), until=future)) == len(all_entries)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2024-01-01T00:00:00"}, "since"),
        ({"before": "-1"}, "before"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_bad_query_is_422(
    tenant: dict[str, Any], tenant_admin: Caller, params: dict[str, str], field: str
) -> None:
    response = await tenant_admin.get(audit_path(tenant), query_string=params)
    body = await response.get_json()
    assert response.status_code == 422, body
    assert body["field"] == field


async def test_audit_access_by_role(
    tenant: dict[str, Any], other_tenant: dict[str, Any], new_user: NewUser, client: Client
) -> None:
    auditor = await new_user(tenant["id"], Role.AUDITOR)
    viewer = await new_user(tenant["id"], Role.VIEWER)
    tenant_id = tenant["id"]
    for suffix in ("", "/verify", "/export"):
        path = f"/api/v1/tenants/{tenant_id}/audit{suffix}"
        assert (await auditor.get(path)).status_code == 200, path
        assert (await viewer.get(path)).status_code == 403, path
        assert (await client.get(path)).status_code == 401, path
        foreign = f"/api/v1/tenants/{other_tenant['id']}/audit{suffix}"
        assert (await auditor.get(foreign)).status_code == 404, foreign
        assert (await auditor.get(f"/api/v1/audit{suffix}")).status_code == 403
        assert (await client.get(f"/api/v1/audit{suffix}")).status_code == 401


async def test_unknown_tenant_audit_is_404(admin: Caller) -> None:
    for suffix in ("", "/verify", "/export"):
        response = await admin.get(f"/api/v1/tenants/{uuid.uuid4()}/audit{suffix}")
        assert response.status_code == 404


async def test_verify_reports_an_intact_chain(
    tenant: dict[str, Any], tenant_admin: Caller, new_user: NewUser
) -> None:
    await new_user(tenant["id"], Role.VIEWER)
    newest = (await entries(tenant_admin, audit_path(tenant), limit=1))[0]
    response = await tenant_admin.get(f"{audit_path(tenant)}/verify")
    report = await response.get_json()
    assert response.status_code == 200
    assert report == {"ok": True, "entries": newest["seq"], "head": newest["hash"]}


async def test_verify_names_the_first_tampered_entry(
    tenant: dict[str, Any], tenant_admin: Caller, new_user: NewUser, database_url: str
) -> None:
    for _ in range(3):
        await new_user(tenant["id"], Role.VIEWER)
    chain = sorted(await entries(tenant_admin, audit_path(tenant)), key=lambda e: e["seq"])
    victim = chain[2]
    # The owner (a superuser here) switches the append-only triggers off and edits a row.
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute(
            "UPDATE audit_log SET details = %s WHERE id = %s",
            ('{"after":{"email":"innocent@example.test"}}', victim["id"]),
        )
    report = await (await tenant_admin.get(f"{audit_path(tenant)}/verify")).get_json()
    assert report["ok"] is False
    assert report["first_bad_id"] == victim["id"]
    assert report["first_bad_seq"] == victim["seq"]


async def test_verify_names_the_entry_after_a_deleted_one(
    tenant: dict[str, Any], tenant_admin: Caller, new_user: NewUser, database_url: str
) -> None:
    for _ in range(3):
        await new_user(tenant["id"], Role.VIEWER)
    chain = sorted(await entries(tenant_admin, audit_path(tenant)), key=lambda e: e["seq"])
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute("DELETE FROM audit_log WHERE id = %s", (chain[1]["id"],))
    report = await (await tenant_admin.get(f"{audit_path(tenant)}/verify")).get_json()
    assert report["first_bad_id"] == chain[2]["id"]


async def test_audit_rows_refuse_update_delete_truncate_even_through_raw_sql(
    tenant: dict[str, Any], tenant_admin: Caller, database_url: str, app: Quart
) -> None:
    # As the owner (superuser): the triggers refuse.
    with psycopg.connect(database_url, autocommit=True) as conn:
        for statement in (
            "UPDATE audit_log SET action = 'x.y'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(statement)
    # As the application role, in its own tenant's scope: not even privileged to try.
    db: Database = container_of(app).db
    for statement in (
        "UPDATE audit_log SET action = 'x.y'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            async with db.tenant(uuid.UUID(tenant["id"])) as conn:
                await conn.execute(statement)
    with psycopg.connect(database_url) as conn:
        privileges = conn.execute(
            "SELECT privilege_type FROM information_schema.role_table_grants"
            " WHERE table_name = 'audit_log' AND grantee = 'signage_app' ORDER BY 1"
        ).fetchall()
    assert [p[0] for p in privileges] == ["INSERT", "SELECT"]
    report = await (await tenant_admin.get(f"{audit_path(tenant)}/verify")).get_json()
    assert report["ok"] is True


async def test_export_streams_the_chain_as_ndjson(
    tenant: dict[str, Any], tenant_admin: Caller, new_user: NewUser
) -> None:
    for _ in range(2):
        await new_user(tenant["id"], Role.VIEWER)
    response = await tenant_admin.get(f"{audit_path(tenant)}/export")
    assert response.status_code == 200
    assert response.content_type == "application/x-ndjson"
    lines = (await response.get_data()).splitlines()
    exported = [msgspec.json.decode(line, type=AuditEntry) for line in lines]
    assert [e.seq for e in exported] == list(range(1, len(exported) + 1))
    # Anyone holding the export can verify it without the server.
    verifier = ChainVerifier(uuid.UUID(tenant["id"]))
    assert all(verifier.feed(e) for e in exported)
    assert verifier.report().ok


async def test_platform_chain_verify_and_export(admin: Caller, tenant: dict[str, Any]) -> None:
    report = await (await admin.get("/api/v1/audit/verify")).get_json()
    assert report["ok"] is True
    assert report["entries"] >= 2  # the admin's provisioning, login, and the tenant
    lines = (await (await admin.get("/api/v1/audit/export")).get_data()).splitlines()
    assert len(lines) == report["entries"]


async def test_concurrent_audited_actions_never_fork_the_chain(
    app: Quart, tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    container = container_of(app)
    tenant_id = uuid.UUID(tenant["id"])
    who = Principal(
        user_id=uuid.UUID(tenant_admin.user_id),
        tenant_id=tenant_id,
        email=tenant_admin.email,
        roles=frozenset({Role.TENANT_ADMIN}),
    )

    async def append(i: int) -> None:
        async with container.store.tenant(tenant_id) as tx:
            await tx.audit.append(tenant_id, who, "test.concurrent", target=f"thing:{i}")

    async def create(i: int) -> None:
        cmd = CreateUser(email=f"c{i}@example.test", password=PASSWORD, roles=[Role.VIEWER])
        await container.users.create(who, tenant_id, cmd)

    before = len(await entries(tenant_admin, audit_path(tenant), limit=1000))
    async with asyncio.timeout(60):
        await asyncio.gather(*(append(i) for i in range(100)), *(create(i) for i in range(20)))
    chain = await entries(tenant_admin, audit_path(tenant), limit=1000)
    assert len(chain) == before + 120
    assert sorted(e["seq"] for e in chain) == list(range(1, len(chain) + 1))
    report = await (await tenant_admin.get(f"{audit_path(tenant)}/verify")).get_json()
    assert report == {"ok": True, "entries": len(chain), "head": chain[0]["hash"]}
