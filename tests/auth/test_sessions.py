"""Refresh-token rotation, reuse detection, logout, and sessions ending at once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
import psycopg
import pytest
from quart.typing import TestClientProtocol as Client

from actors.domain.login_sessions import session_digest
from actors.domain.rbac import Role
from tests.auth.conftest import Caller

pytestmark = pytest.mark.anyio


async def refresh(client: Client, token: str) -> Any:
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": token})


def age_spent_tokens(database_url: str) -> None:
    """Let the clock run past the reuse grace window (as the owner, instead of sleeping)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE refresh_tokens SET used_at = used_at - interval '1 minute'"
            " WHERE used_at IS NOT NULL"
        )


async def me_status(client: Client, access_token: str) -> int:
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {access_token}"})
    return int(response.status_code)


async def test_refresh_rotates_the_pair(admin: Caller, client: Client) -> None:
    response = await refresh(client, admin.refresh_token)
    pair = await response.get_json()
    assert response.status_code == 200
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert pair["refresh_token"] != admin.refresh_token
    assert await me_status(client, pair["access_token"]) == 200
    # The new refresh token works once more; the chain goes on.
    again = await refresh(client, pair["refresh_token"])
    assert again.status_code == 200


async def test_reusing_a_spent_refresh_token_revokes_the_family(
    admin: Caller, client: Client, database_url: str
) -> None:
    first = await (await refresh(client, admin.refresh_token)).get_json()
    age_spent_tokens(database_url)
    # An attacker replays the original token: refused...
    replay = await refresh(client, admin.refresh_token)
    assert replay.status_code == 401
    # ...and the legitimate holder's newer tokens are dead too: the whole family.
    assert (await refresh(client, first["refresh_token"])).status_code == 401
    assert await me_status(client, first["access_token"]) == 401
    assert await me_status(client, admin.access_token) == 401
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT actor, target, details FROM audit_log WHERE action = 'auth.refresh_reuse'"
        ).fetchone()
    assert row is not None
    actor, target, details = row
    assert actor == "anonymous"
    assert target.startswith("session:")
    assert f'"user":"user:{admin.user_id}"' in details
    # A fresh login opens a new, unaffected session.
    response = await client.post(
        "/api/v1/auth/login", json={"email": admin.email, "password": admin.password}
    )
    assert response.status_code == 200


async def test_unknown_refresh_token_is_401(client: Client) -> None:
    response = await refresh(client, "not-a-token")
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"


async def test_expired_refresh_token_is_401(
    admin: Caller, client: Client, database_url: str
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'")
    assert (await refresh(client, admin.refresh_token)).status_code == 401


async def test_session_past_its_maximum_age_is_over(
    admin: Caller, client: Client, database_url: str
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE refresh_families SET expires_at = now() - interval '1 second'")
    assert (await refresh(client, admin.refresh_token)).status_code == 401
    assert await me_status(client, admin.access_token) == 401


async def test_logout_ends_the_session_and_its_access_tokens(
    admin: Caller, client: Client, database_url: str
) -> None:
    response = await client.post("/api/v1/auth/logout", json={"refresh_token": admin.refresh_token})
    assert response.status_code == 204
    assert await response.get_data() == b""
    assert (await refresh(client, admin.refresh_token)).status_code == 401
    assert await me_status(client, admin.access_token) == 401
    with psycopg.connect(database_url) as conn:
        actions = [
            r[0] for r in conn.execute("SELECT action FROM audit_log ORDER BY at").fetchall()
        ]
    assert actions.count("auth.logout") == 1


async def test_logout_is_idempotent_and_reveals_nothing(admin: Caller, client: Client) -> None:
    for token in (admin.refresh_token, admin.refresh_token, "never-issued"):
        response = await client.post("/api/v1/auth/logout", json={"refresh_token": token})
        assert response.status_code == 204


@pytest.mark.parametrize("path", ["/api/v1/auth/logout", "/api/v1/auth/refresh"])
@pytest.mark.parametrize(
    "payload", [{"token": "x"}, {"refresh_token": ""}, {"refresh_token": 5}, {}, []]
)
async def test_malformed_refresh_and_logout_bodies_are_422(
    client: Client, path: str, payload: object
) -> None:
    response = await client.post(path, json=payload)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"


async def test_logout_ends_only_its_own_session(admin: Caller, client: Client) -> None:
    other = await client.post(
        "/api/v1/auth/login", json={"email": admin.email, "password": admin.password}
    )
    other_pair = await other.get_json()
    await client.post("/api/v1/auth/logout", json={"refresh_token": admin.refresh_token})
    assert await me_status(client, other_pair["access_token"]) == 200
    assert (await refresh(client, other_pair["refresh_token"])).status_code == 200


async def test_disabling_a_user_ends_its_sessions_at_once(
    admin: Caller, tenant: dict[str, Any], new_user: Callable[..., Awaitable[Caller]]
) -> None:
    user = await new_user(tenant["id"], Role.EDITOR)
    assert await me_status(user.client, user.access_token) == 200
    response = await admin.patch(
        f"/api/v1/tenants/{tenant['id']}/users/{user.user_id}", {"disabled": True}
    )
    assert response.status_code == 200
    assert (await response.get_json())["disabled"] is True
    assert await me_status(user.client, user.access_token) == 401
    assert (await refresh(user.client, user.refresh_token)).status_code == 401
    # Re-enabling lets the user log in again, but the old session stays over.
    await admin.patch(f"/api/v1/tenants/{tenant['id']}/users/{user.user_id}", {"disabled": False})
    assert await me_status(user.client, user.access_token) == 401
    assert (await refresh(user.client, user.refresh_token)).status_code == 401


async def test_suspending_a_tenant_ends_its_users_sessions_at_once(
    admin: Caller,
    tenant: dict[str, Any],
    tenant_admin: Caller,
    other_tenant: dict[str, Any],
    new_user: Callable[..., Awaitable[Caller]],
) -> None:
    bystander = await new_user(other_tenant["id"], Role.VIEWER)
    response = await admin.post(f"/api/v1/tenants/{tenant['id']}/suspend")
    assert (await response.get_json())["status"] == "suspended"
    assert await me_status(tenant_admin.client, tenant_admin.access_token) == 401
    assert (await refresh(tenant_admin.client, tenant_admin.refresh_token)).status_code == 401
    # Other tenants and the platform admin are unaffected.
    assert await me_status(bystander.client, bystander.access_token) == 200
    assert await me_status(admin.client, admin.access_token) == 200


async def test_role_changes_apply_to_the_next_request(
    admin: Caller, tenant: dict[str, Any], new_user: Callable[..., Awaitable[Caller]]
) -> None:
    user = await new_user(tenant["id"], Role.VIEWER)
    assert (await user.get(f"/api/v1/tenants/{tenant['id']}/users")).status_code == 403
    await admin.patch(
        f"/api/v1/tenants/{tenant['id']}/users/{user.user_id}", {"roles": ["tenant_admin"]}
    )
    assert (await user.get(f"/api/v1/tenants/{tenant['id']}/users")).status_code == 200
    me = await (await user.get("/api/v1/me")).get_json()
    assert me["roles"] == ["tenant_admin"]


async def test_two_tabs_refreshing_the_same_token_at_once_both_stay_logged_in(
    admin: Caller, client: Client
) -> None:
    first, second = await asyncio.gather(
        refresh(client, admin.refresh_token), refresh(client, admin.refresh_token)
    )
    assert (first.status_code, second.status_code) == (200, 200)
    pairs = [await first.get_json(), await second.get_json()]
    assert pairs[0]["refresh_token"] != pairs[1]["refresh_token"]
    for pair in pairs:
        assert await me_status(client, pair["access_token"]) == 200
        assert (await refresh(client, pair["refresh_token"])).status_code == 200
    # Presented once more, still within the grace window: one more pair, no revocation.
    assert (await refresh(client, admin.refresh_token)).status_code == 200


async def test_reuse_after_the_grace_window_still_revokes_the_family(
    admin: Caller, client: Client, database_url: str
) -> None:
    pair = await (await refresh(client, admin.refresh_token)).get_json()
    age_spent_tokens(database_url)
    assert (await refresh(client, admin.refresh_token)).status_code == 401
    assert (await refresh(client, pair["refresh_token"])).status_code == 401
    assert await me_status(client, pair["access_token"]) == 401


async def test_the_audit_trail_names_sessions_by_a_digest_never_by_their_id(
    admin: Caller, client: Client, database_url: str
) -> None:
    sid = jwt.decode(admin.access_token, options={"verify_signature": False})["sid"]
    await client.post("/api/v1/auth/logout", json={"refresh_token": admin.refresh_token})
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT action, target, details FROM audit_log"
            " WHERE action IN ('auth.login', 'auth.logout') ORDER BY seq"
        ).fetchall()
    assert [r[0] for r in rows] == ["auth.login", "auth.logout"]
    everything = str(rows)
    assert sid not in everything
    assert sid.replace("-", "") not in everything
    digest = session_digest(uuid.UUID(sid))
    assert f'"session":"{digest}"' in rows[0][2]
    assert rows[1][1] == f"session:{digest}"
