"""POST /api/v1/auth/login and GET /api/v1/me."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
import psycopg
import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from actors.domain.principal import AuditActor
from actors.domain.rbac import Role
from tests.auth.conftest import PASSWORD, Caller, container_of, login, login_as

pytestmark = pytest.mark.anyio


async def test_login_returns_a_bearer_pair(admin: Caller, client: Client) -> None:
    response = await login(client, admin.email, PASSWORD)
    body = await response.get_json()
    assert response.status_code == 200
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["refresh_token"] != body["access_token"]


async def test_access_token_carries_the_contract_claims(admin: Caller) -> None:
    header = jwt.get_unverified_header(admin.access_token)
    claims = jwt.decode(admin.access_token, options={"verify_signature": False})
    assert header["alg"] == "HS256"
    assert header["typ"] == "at+jwt"
    assert {"aud", "iss", "exp", "iat", "jti", "sub", "tid", "roles", "sid"} <= claims.keys()
    assert claims["sub"] == admin.user_id
    assert claims["tid"] is None
    assert claims["roles"] == ["platform_admin"]
    assert claims["exp"] - claims["iat"] == 900


async def test_me_describes_the_caller(tenant_admin: Caller, tenant: dict[str, Any]) -> None:
    response = await tenant_admin.get("/api/v1/me")
    assert response.status_code == 200
    assert await response.get_json() == {
        "user_id": tenant_admin.user_id,
        "email": tenant_admin.email,
        "tenant_id": tenant["id"],
        "roles": ["tenant_admin"],
        "required_actions": [],
        "kind": "user",
    }


async def test_me_without_a_token_is_401_problem(client: Client) -> None:
    response = await client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer  ", "token x", "Bearer x.y.z"])
async def test_me_with_a_malformed_authorization_is_401(client: Client, header: str) -> None:
    response = await client.get("/api/v1/me", headers={"Authorization": header})
    assert response.status_code == 401


async def test_unknown_email_and_wrong_password_get_the_same_answer(
    admin: Caller, client: Client
) -> None:
    wrong = await login(client, admin.email, "not the password")
    unknown = await login(client, "nobody@example.test", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    wrong_body, unknown_body = await wrong.get_json(), await unknown.get_json()
    for body in (wrong_body, unknown_body):
        body.pop("request_id")
    assert wrong_body == unknown_body
    assert wrong.content_type == unknown.content_type == "application/problem+json"


async def test_email_is_matched_case_and_space_insensitively(admin: Caller, client: Client) -> None:
    response = await login(client, "  ROOT@Example.TEST ", PASSWORD)
    assert response.status_code == 422  # surrounding spaces fail the schema
    response = await login(client, "ROOT@Example.TEST", PASSWORD)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "root@example.test"}, None),
        ({"email": "root@example.test", "password": PASSWORD, "extra": 1}, "extra"),
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "root@example.test", "password": "x" * 129}, "password"),
        ({"email": "root@example.test", "password": 12345678}, "password"),
    ],
)
async def test_malformed_login_is_422_naming_the_field(
    client: Client, payload: dict[str, Any], field: str | None
) -> None:
    response = await client.post("/api/v1/auth/login", json=payload)
    body = await response.get_json()
    assert response.status_code == 422, body
    if field is not None:
        assert body["field"] == field


async def test_disabled_user_cannot_log_in(
    admin: Caller, tenant: dict[str, Any], new_user: Callable[..., Awaitable[Caller]]
) -> None:
    user = await new_user(tenant["id"], Role.VIEWER)
    response = await admin.patch(
        f"/api/v1/tenants/{tenant['id']}/users/{user.user_id}", {"disabled": True}
    )
    assert response.status_code == 200
    refused = await login(admin.client, user.email, PASSWORD)
    assert refused.status_code == 401


async def test_suspended_tenants_users_cannot_log_in(
    admin: Caller, tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    response = await admin.post(f"/api/v1/tenants/{tenant['id']}/suspend")
    assert response.status_code == 200
    refused = await login(admin.client, tenant_admin.email, PASSWORD)
    assert refused.status_code == 401
    await admin.post(f"/api/v1/tenants/{tenant['id']}/resume")
    again = await login(admin.client, tenant_admin.email, PASSWORD)
    assert again.status_code == 200


async def test_login_rehashes_a_password_stored_under_old_parameters(
    app: Quart, client: Client, database_url: str
) -> None:
    # Provision under the weaker parameters of an "older release" (t=1, m=512 KiB)...
    from store.passwords import Argon2Passwords

    old = Argon2Passwords(
        memory_kib=512, time_cost=1, parallelism=1, max_concurrent=1, max_queued=1
    )
    user = await container_of(app).users.provision(
        "old@example.test", PASSWORD, actor=AuditActor.system("tests")
    )
    old_hash = await old.hash(PASSWORD)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (old_hash, user.id))
    # ...then log in with today's (m=1024 KiB): the stored hash is replaced, transparently.
    await login_as(client, "old@example.test")
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute("SELECT password_hash FROM users WHERE id = %s", (user.id,)).fetchone()
    assert row is not None
    assert row[0] != old_hash
    assert row[0].startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    await login_as(client, "old@example.test")


async def test_a_password_is_never_truncated(app: Quart, client: Client) -> None:
    long = "p" * 127 + "1"
    await container_of(app).users.provision("long@example.test", long, actor=AuditActor.system("t"))
    assert (await login(client, "long@example.test", "p" * 127 + "2")).status_code == 401
    assert (await login(client, "long@example.test", "p" * 127)).status_code == 401
    assert (await login(client, "long@example.test", long)).status_code == 200


async def test_no_password_or_token_reaches_the_logs(
    admin: Caller,
    tenant: dict[str, Any],
    new_user: Callable[..., Awaitable[Caller]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    user = await new_user(tenant["id"], Role.VIEWER)
    await login(admin.client, user.email, "a wrong password entirely")
    pair = await (await login(admin.client, user.email, PASSWORD)).get_json()
    await admin.client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    await admin.client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    text = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    for secret in (
        PASSWORD,
        "a wrong password entirely",
        pair["refresh_token"],
        pair["access_token"],
        user.access_token,
    ):
        assert secret not in text
