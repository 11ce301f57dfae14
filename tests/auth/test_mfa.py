"""The TOTP second factor: enrolment, the two-step login, recovery codes, throttling,
policies that require it, and its removal by an admin reset."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from quart.typing import TestClientProtocol as Client

from actors.domain.mfa import current_step, matching_step, new_recovery_codes, totp_code
from actors.domain.rbac import Role
from actors.settings import Settings
from tests.auth.conftest import FAST_HASHING, PASSWORD, Caller, login, peer
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio

NewUser = Callable[..., Awaitable[Caller]]
BUDGET = 3


@pytest.fixture
def settings(db_clean: str) -> Settings:
    return make_settings(db_clean, **FAST_HASHING, login_account_max_failures=BUDGET)


def code_now(secret: str, offset: int = 0) -> str:
    return totp_code(secret, current_step(time.time()) + offset)


async def enrol(user: Caller) -> tuple[str, list[str]]:
    """Enrol and confirm a TOTP factor; returns the secret and the recovery codes."""
    started = await user.post("/api/v1/me/mfa/totp", {"password": user.password})
    enrolment = await started.get_json()
    assert started.status_code == 201, enrolment
    uri = urlsplit(enrolment["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert parse_qs(uri.query)["secret"] == [enrolment["secret"]]
    assert parse_qs(uri.query)["issuer"] == ["Signage"]
    confirmed = await user.post(
        "/api/v1/me/mfa/totp/confirm", {"code": code_now(enrolment["secret"])}
    )
    body = await confirmed.get_json()
    assert confirmed.status_code == 200, body
    return enrolment["secret"], body["recovery_codes"]


async def second_step(client: Client, challenge: str, code: str) -> Any:
    return await client.post(
        "/api/v1/auth/login/mfa", json={"challenge": challenge, "code": code}, scope_base=peer()
    )


async def challenge_for(user: Caller) -> str:
    response = await login(user.client, user.email, user.password)
    body = await response.get_json()
    assert response.status_code == 200, body
    assert body["mfa_required"] is True
    assert "access_token" not in body
    assert body["methods"] == ["totp", "recovery_code"]
    return str(body["challenge"])


def actions(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        return [r[0] for r in conn.execute("SELECT action FROM audit_log ORDER BY at, seq")]


async def test_an_enrolled_account_logs_in_with_a_challenge_and_a_code(
    tenant: dict[str, Any], new_user: NewUser, database_url: str
) -> None:
    user = await new_user(tenant["id"], Role.EDITOR)
    secret, codes = await enrol(user)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    status = await (await user.get("/api/v1/me/mfa")).get_json()
    assert status == {"enabled": True, "pending": False, "recovery_codes_left": 10}
    challenge = await challenge_for(user)
    # The code the confirmation used is spent: the next step's code logs in.
    response = await second_step(user.client, challenge, code_now(secret, +1))
    pair = await response.get_json()
    assert response.status_code == 200, pair
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}
    me = await user.client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"}
    )
    assert me.status_code == 200
    # A challenge is good for one login only.
    assert (await second_step(user.client, challenge, code_now(secret, +1))).status_code == 401
    logged = actions(database_url)
    assert "auth.mfa_enrol" in logged
    assert "auth.mfa_enable" in logged
    with psycopg.connect(database_url) as conn:
        details = conn.execute(
            "SELECT details FROM audit_log WHERE action = 'auth.login' ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        everything = str(conn.execute("SELECT * FROM audit_log").fetchall())
    assert details is not None
    assert '"mfa":"totp"' in details[0]
    assert secret not in everything
    assert not any(code in everything for code in codes)


async def test_a_code_is_never_accepted_twice(tenant: dict[str, Any], new_user: NewUser) -> None:
    user = await new_user(tenant["id"], Role.VIEWER)
    secret, _ = await enrol(user)
    code = code_now(secret, +1)
    assert (await second_step(user.client, await challenge_for(user), code)).status_code == 200
    # Seen over a shoulder and replayed within its 90 seconds: refused.
    assert (await second_step(user.client, await challenge_for(user), code)).status_code == 401


async def test_a_recovery_code_logs_in_once(tenant: dict[str, Any], new_user: NewUser) -> None:
    user = await new_user(tenant["id"], Role.VIEWER)
    _, codes = await enrol(user)
    typed = codes[0].upper().replace("-", " ")
    assert (await second_step(user.client, await challenge_for(user), typed)).status_code == 200
    assert (await second_step(user.client, await challenge_for(user), codes[0])).status_code == 401
    status = await (await user.get("/api/v1/me/mfa")).get_json()
    assert status["recovery_codes_left"] == 9


async def test_wrong_codes_are_throttled_like_passwords(
    tenant: dict[str, Any], new_user: NewUser
) -> None:
    user = await new_user(tenant["id"], Role.VIEWER)
    secret, _ = await enrol(user)
    challenge = await challenge_for(user)
    wrong = "000000" if code_now(secret) != "000000" else "111111"
    for _ in range(BUDGET):
        assert (await second_step(user.client, challenge, wrong)).status_code == 401
    # The account is blocked now: the right code, and the password step, are refused.
    response = await second_step(user.client, challenge, code_now(secret, +1))
    assert response.status_code == 429
    assert "Retry-After" in response.headers
    assert (await login(user.client, user.email, PASSWORD)).status_code == 429


async def test_a_known_password_does_not_buy_fresh_code_guesses(
    tenant: dict[str, Any], new_user: NewUser
) -> None:
    user = await new_user(tenant["id"], Role.VIEWER)
    secret, _ = await enrol(user)
    wrong = "000000" if code_now(secret) != "000000" else "111111"
    for _ in range(BUDGET - 1):
        assert (await second_step(user.client, await challenge_for(user), wrong)).status_code == 401
    # One failure left: a correct password step must not reset the count.
    challenge = await challenge_for(user)
    assert (await second_step(user.client, challenge, wrong)).status_code == 401
    assert (await login(user.client, user.email, PASSWORD)).status_code == 429


async def test_an_expired_challenge_is_refused(
    tenant: dict[str, Any], new_user: NewUser, database_url: str
) -> None:
    user = await new_user(tenant["id"], Role.VIEWER)
    secret, _ = await enrol(user)
    challenge = await challenge_for(user)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE login_challenges SET expires_at = now() - interval '1 second'")
    assert (await second_step(user.client, challenge, code_now(secret, +1))).status_code == 401
    assert (await second_step(user.client, "never-issued", code_now(secret, +1))).status_code == 401


async def test_enrolling_needs_the_password_and_a_current_code(admin: Caller) -> None:
    wrong = await admin.post("/api/v1/me/mfa/totp", {"password": "not the password"})
    assert wrong.status_code == 422
    assert (await wrong.get_json())["field"] == "password"
    started = await (await admin.post("/api/v1/me/mfa/totp", {"password": PASSWORD})).get_json()
    stale = totp_code(started["secret"], current_step(time.time()) - 5)
    refused = await admin.post("/api/v1/me/mfa/totp/confirm", {"code": stale})
    assert refused.status_code == 422
    assert (await refused.get_json())["field"] == "code"
    # Until confirmed, login needs no second factor.
    assert "access_token" in await (await login(admin.client, admin.email, PASSWORD)).get_json()
    ok = await admin.post("/api/v1/me/mfa/totp/confirm", {"code": code_now(started["secret"])})
    assert ok.status_code == 200
    again = await admin.post("/api/v1/me/mfa/totp", {"password": PASSWORD})
    assert again.status_code == 409


async def test_a_tenant_policy_restricts_users_without_a_second_factor_to_enrolling(
    tenant: dict[str, Any], tenant_admin: Caller, new_user: NewUser, database_url: str
) -> None:
    operator = await new_user(tenant["id"], Role.EMERGENCY_OPERATOR)
    editor = await new_user(tenant["id"], Role.EDITOR)
    path = f"/api/v1/tenants/{tenant['id']}/mfa-policy"
    assert await (await tenant_admin.get(path)).get_json() == {"required_roles": []}
    assert (await editor.post(path, {"required_roles": ["editor"]})).status_code == 405
    response = await tenant_admin.client.put(
        path, json={"required_roles": ["emergency_operator"]}, headers=tenant_admin.headers
    )
    assert response.status_code == 200, await response.get_json()
    emergencies = f"/api/v1/tenants/{tenant['id']}/emergencies"
    refused = await operator.get(emergencies)
    assert refused.status_code == 403
    assert "second factor" in (await refused.get_json())["detail"]
    me = await (await operator.get("/api/v1/me")).get_json()
    assert me["required_actions"] == ["enrol_mfa"]
    assert (await editor.get(emergencies)).status_code == 200
    await enrol(operator)
    assert (await operator.get(emergencies)).status_code == 200
    assert "tenant.mfa_policy" in actions(database_url)
    platform_role = await tenant_admin.client.put(
        path, json={"required_roles": ["platform_admin"]}, headers=tenant_admin.headers
    )
    assert platform_role.status_code == 422


async def test_an_admin_reset_removes_the_second_factor(
    tenant: dict[str, Any], tenant_admin: Caller, new_user: NewUser
) -> None:
    user = await new_user(tenant["id"], Role.EDITOR)
    await enrol(user)
    reset = await (
        await tenant_admin.post(
            f"/api/v1/tenants/{tenant['id']}/users/{user.user_id}/reset-password"
        )
    ).get_json()
    assert reset["mfa_disabled"] is True
    answer = await (await login(user.client, user.email, reset["temporary_password"])).get_json()
    assert "access_token" in answer


def test_codes_match_their_step_within_one_step_of_drift() -> None:
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    now = 1_700_000_000.0
    step = current_step(now)
    for drift in (-1, 0, 1):
        code = totp_code(secret, step + drift)
        assert matching_step(secret, code, now=now, after_step=0) == step + drift
    assert matching_step(secret, totp_code(secret, step + 2), now=now, after_step=0) is None
    assert matching_step(secret, totp_code(secret, step), now=now, after_step=step) is None
    assert matching_step(secret, "12345", now=now, after_step=0) is None
    assert all(len(c) == 19 for c in new_recovery_codes())


async def test_a_known_password_cannot_pile_up_challenges(
    tenant: dict[str, Any], new_user: NewUser, database_url: str
) -> None:
    user = await new_user(tenant["id"], Role.VIEWER)
    secret, _ = await enrol(user)
    challenges = [await challenge_for(user) for _ in range(8)]
    with psycopg.connect(database_url) as conn:
        live = conn.execute("SELECT count(*) FROM login_challenges").fetchone()
    assert live == (5,)
    assert (await second_step(user.client, challenges[0], code_now(secret, +1))).status_code == 401
    assert (await second_step(user.client, challenges[-1], code_now(secret, +1))).status_code == 200
