"""Password hygiene (issue 14, M3): common passwords refused, changing one's own password,
an admin's reset to a one-time password, and ``signage reset-password``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from actors.domain.common_passwords import common_passwords, is_common, normalise
from actors.domain.rbac import Role
from actors.domain.users import check_password
from actors.errors import Invalid
from actors.settings import Settings
from tests.auth.conftest import FAST_HASHING, PASSWORD, Caller, login, login_as
from tests.auth.test_cli import signage, user_row
from tests.conftest import make_settings

NewUser = Callable[..., Awaitable[Caller]]
NEW_PASSWORD = "a brand new passphrase of mine"
BUDGET = 3


@pytest.fixture
def settings(db_clean: str) -> Settings:
    return make_settings(db_clean, **FAST_HASHING, login_account_max_failures=BUDGET)


def audit_rows(database_url: str, action: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT tenant_id, actor, target, details FROM audit_log WHERE action = %s ORDER BY at",
            (action,),
        ).fetchall()


# -- The rules -------------------------------------------------------------------------


def test_the_shipped_list_holds_thousands_of_common_passwords_meeting_the_length_rule() -> None:
    passwords = common_passwords()
    assert len(passwords) >= 3000
    assert all(len(p) >= 8 for p in passwords)
    assert {"password", "12345678", "qwertyuiop", "iloveyou"} <= passwords


@pytest.mark.parametrize(
    "password",
    [
        "password1",
        "PASSWORD1",
        "Password1",
        "\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff441",
        " qwertyuiop ",
    ],
)
def test_common_passwords_are_refused_however_they_are_spelled(password: str) -> None:
    assert is_common(password)
    with pytest.raises(Invalid) as refused:
        check_password(password)
    assert refused.value.field == "password"
    assert "common" in refused.value.detail


def test_the_accounts_own_email_is_refused_as_its_password() -> None:
    with pytest.raises(Invalid):
        check_password("Jane.Doe@Example.TEST", email="jane.doe@example.test")
    with pytest.raises(Invalid):
        check_password("jane.doe.example", email="jane.doe.example@example.test")
    check_password(PASSWORD, email="jane.doe@example.test")
    assert normalise("  A  b ") == "a b"


@pytest.mark.anyio
@pytest.mark.parametrize("password", ["password1", "Iloveyou!"[:8], "short"])
async def test_creating_a_user_with_a_common_or_short_password_is_422(
    tenant: dict[str, Any], tenant_admin: Caller, password: str
) -> None:
    response = await tenant_admin.post(
        f"/api/v1/tenants/{tenant['id']}/users",
        {"email": "new@example.test", "password": password, "roles": ["viewer"]},
    )
    assert response.status_code == 422
    assert (await response.get_json())["field"] == "password"


# -- Changing one's own password ------------------------------------------------------


@pytest.mark.anyio
async def test_changing_ones_password_ends_the_other_sessions_only(
    tenant: dict[str, Any], new_user: NewUser, database_url: str
) -> None:
    user = await new_user(tenant["id"], Role.EDITOR)
    other = await login_as(user.client, user.email)
    response = await user.post(
        "/api/v1/me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 200, await response.get_json()
    assert await response.get_json() == {"sessions_revoked": 1}
    assert (await user.get("/api/v1/me")).status_code == 200
    assert (await other.get("/api/v1/me")).status_code == 401
    assert (await login(user.client, user.email, PASSWORD)).status_code == 401
    assert (await login(user.client, user.email, NEW_PASSWORD)).status_code == 200
    [(tenant_id, actor, target, details)] = audit_rows(database_url, "auth.password_change")
    assert str(tenant_id) == tenant["id"]
    assert (actor, target) == (f"user:{user.user_id}", f"user:{user.user_id}")
    assert '"sessions_revoked":1' in details
    assert PASSWORD not in details
    assert NEW_PASSWORD not in details


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"current_password": "not it at all", "new_password": NEW_PASSWORD}, "current_password"),
        ({"current_password": PASSWORD, "new_password": "password1"}, "password"),
        ({"current_password": PASSWORD, "new_password": PASSWORD}, "new_password"),
        ({"current_password": PASSWORD, "new_password": "short"}, "new_password"),
        ({"current_password": PASSWORD}, "new_password"),
    ],
)
async def test_a_bad_password_change_is_422_naming_the_field(
    admin: Caller, body: dict[str, str], field: str
) -> None:
    response = await admin.post("/api/v1/me/password", body)
    assert response.status_code == 422
    assert (await response.get_json())["field"] == field
    assert (await login(admin.client, admin.email, PASSWORD)).status_code == 200


@pytest.mark.anyio
async def test_guessing_the_current_password_is_throttled_and_audited(
    admin: Caller, database_url: str
) -> None:
    for i in range(BUDGET):
        response = await admin.post(
            "/api/v1/me/password", {"current_password": f"guess {i}!", "new_password": NEW_PASSWORD}
        )
        assert response.status_code == 422
    response = await admin.post(
        "/api/v1/me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 429
    assert "Retry-After" in response.headers
    assert len(audit_rows(database_url, "auth.password_change_failed")) == BUDGET


# -- An admin's reset -----------------------------------------------------------------


@pytest.mark.anyio
async def test_an_admin_reset_gives_a_one_time_password_that_must_be_changed(
    tenant: dict[str, Any], tenant_admin: Caller, new_user: NewUser, database_url: str
) -> None:
    user = await new_user(tenant["id"], Role.EDITOR)
    response = await tenant_admin.post(
        f"/api/v1/tenants/{tenant['id']}/users/{user.user_id}/reset-password"
    )
    reset = await response.get_json()
    assert response.status_code == 200, reset
    assert reset["must_change_password"] is True
    assert reset["sessions_revoked"] == 1
    temporary = reset["temporary_password"]
    assert len(temporary) >= 16
    # The old session and password are over.
    assert (await user.get("/api/v1/me")).status_code == 401
    assert (await login(user.client, user.email, PASSWORD)).status_code == 401
    # The one-time password logs in, to a session that can only change it.
    restricted = await login_as(user.client, user.email, temporary)
    me = await (await restricted.get("/api/v1/me")).get_json()
    assert me["required_actions"] == ["change_password"]
    refused = await restricted.get(f"/api/v1/tenants/{tenant['id']}/content")
    assert refused.status_code == 403
    assert "/api/v1/me/password" in (await refused.get_json())["detail"]
    changed = await restricted.post(
        "/api/v1/me/password", {"current_password": temporary, "new_password": NEW_PASSWORD}
    )
    assert changed.status_code == 200
    assert (await restricted.get(f"/api/v1/tenants/{tenant['id']}/content")).status_code == 200
    assert (await login(user.client, user.email, temporary)).status_code == 401
    [(tenant_id, actor, target, details)] = audit_rows(database_url, "user.password_reset")
    assert str(tenant_id) == tenant["id"]
    assert (actor, target) == (f"user:{tenant_admin.user_id}", f"user:{user.user_id}")
    assert temporary not in details


@pytest.mark.anyio
async def test_an_unused_one_time_password_expires(
    tenant: dict[str, Any], tenant_admin: Caller, new_user: NewUser, database_url: str
) -> None:
    user = await new_user(tenant["id"], Role.VIEWER)
    reset = await (
        await tenant_admin.post(
            f"/api/v1/tenants/{tenant['id']}/users/{user.user_id}/reset-password"
        )
    ).get_json()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE users SET password_expires_at = now() - interval '1 second'"
            " WHERE password_must_change"
        )
    assert (await login(user.client, user.email, reset["temporary_password"])).status_code == 401
    [(_, _, _, details)] = [
        r for r in audit_rows(database_url, "auth.login_failed") if "password_expired" in r[3]
    ]
    assert '"reason":"password_expired"' in details


@pytest.mark.anyio
async def test_resets_are_for_user_managers_of_the_tenant_and_not_for_oneself(
    tenant: dict[str, Any],
    other_tenant: dict[str, Any],
    tenant_admin: Caller,
    new_user: NewUser,
) -> None:
    user = await new_user(tenant["id"], Role.VIEWER)
    viewer = await new_user(tenant["id"], Role.VIEWER)
    outsider = await new_user(other_tenant["id"], Role.TENANT_ADMIN)
    path = f"/api/v1/tenants/{tenant['id']}/users/{user.user_id}/reset-password"
    assert (await viewer.post(path)).status_code == 403
    assert (await outsider.post(path)).status_code == 404
    own = f"/api/v1/tenants/{tenant['id']}/users/{tenant_admin.user_id}/reset-password"
    assert (await tenant_admin.post(own)).status_code == 409
    unknown = f"/api/v1/tenants/{tenant['id']}/users/{other_tenant['id']}/reset-password"
    assert (await tenant_admin.post(unknown)).status_code == 404
    assert (await user.get("/api/v1/me")).status_code == 200


@pytest.mark.anyio
async def test_a_reset_lifts_the_accounts_login_block(
    tenant: dict[str, Any], tenant_admin: Caller, new_user: NewUser
) -> None:
    user = await new_user(tenant["id"], Role.VIEWER)
    for _ in range(BUDGET):
        await login(user.client, user.email, "wrong password")
    assert (await login(user.client, user.email, PASSWORD)).status_code == 429
    reset = await (
        await tenant_admin.post(
            f"/api/v1/tenants/{tenant['id']}/users/{user.user_id}/reset-password"
        )
    ).get_json()
    assert (await login(user.client, user.email, reset["temporary_password"])).status_code == 200


# -- signage reset-password -------------------------------------------------------------


def test_cli_reset_password_sets_the_password_and_ends_sessions(
    db_clean: str, tmp_path: Path
) -> None:
    created = signage(
        tmp_path, db_clean, "create-admin", "--email", "root@example.test", stdin=PASSWORD
    )
    assert created.returncode == 0, created.stderr
    before = user_row(db_clean, "root@example.test")
    result = signage(
        tmp_path,
        db_clean,
        "reset-password",
        "--email",
        "Root@Example.TEST",
        stdin=NEW_PASSWORD + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert "password of root@example.test reset" in result.stdout
    assert NEW_PASSWORD not in result.stdout + result.stderr
    after = user_row(db_clean, "root@example.test")
    assert before is not None
    assert after is not None
    assert before[2] != after[2]
    with psycopg.connect(db_clean) as conn:
        audit = conn.execute(
            "SELECT actor, action FROM audit_log WHERE action = 'user.password_reset'"
        ).fetchall()
    assert audit == [("system:reset-password", "user.password_reset")]


def test_cli_reset_password_can_hand_out_a_one_time_password(db_clean: str, tmp_path: Path) -> None:
    signage(tmp_path, db_clean, "create-admin", "--email", "root@example.test", stdin=PASSWORD)
    result = signage(
        tmp_path, db_clean, "reset-password", "--email", "root@example.test", "--temporary"
    )
    assert result.returncode == 0, result.stderr
    assert "one-time password" in result.stdout
    with psycopg.connect(db_clean) as conn:
        row = conn.execute(
            "SELECT password_must_change, password_expires_at > now() FROM users"
        ).fetchone()
    assert row == (True, True)


@pytest.mark.parametrize(
    ("args", "stdin", "code", "message"),
    [
        (["--email", "nobody@example.test"], NEW_PASSWORD, 1, "no account"),
        (["--email", "root@example.test"], "password1", 2, "common"),
        (["--email", "root@example.test"], "short", 2, "password"),
    ],
)
def test_cli_reset_password_refuses_bad_input(
    db_clean: str, tmp_path: Path, args: list[str], stdin: str, code: int, message: str
) -> None:
    signage(tmp_path, db_clean, "create-admin", "--email", "root@example.test", stdin=PASSWORD)
    result = signage(tmp_path, db_clean, "reset-password", *args, stdin=stdin)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
