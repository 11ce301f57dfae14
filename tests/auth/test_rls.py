"""The second wall: row-level security holds even when a query forgets its tenant filter.

These tests run raw SQL through the application's own pool (``SET ROLE signage_app``),
deliberately without ``WHERE tenant_id = ...``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg import sql

from store.db import APP_ROLE, Connection, Database

pytestmark = pytest.mark.anyio

A = uuid.UUID("00000000-0000-4000-8000-00000000000a")
B = uuid.UUID("00000000-0000-4000-8000-00000000000b")


@pytest.fixture
def two_tenants(db_clean: str) -> str:
    """Tenants A and B with a user, a session and an audit entry each, plus a platform user
    (written as the owner, which RLS does not bind)."""
    with psycopg.connect(db_clean, autocommit=True) as conn:
        for tid, name in ((A, "a"), (B, "b")):
            conn.execute(
                "INSERT INTO tenants (id, name, slug) VALUES (%s, %s, %s)", (tid, name, name)
            )
            user = conn.execute(
                "INSERT INTO users (tenant_id, email, password_hash, roles)"
                " VALUES (%s, %s, 'x', '{viewer}') RETURNING id",
                (tid, f"{name}@example.test"),
            ).fetchone()
            assert user is not None
            family = conn.execute(
                "INSERT INTO refresh_families (user_id, tenant_id, expires_at)"
                " VALUES (%s, %s, now() + interval '1 day') RETURNING id",
                (user[0], tid),
            ).fetchone()
            assert family is not None
            conn.execute(
                "INSERT INTO refresh_tokens (family_id, tenant_id, token_hash, expires_at)"
                " VALUES (%s, %s, %s, now() + interval '1 day')",
                (family[0], tid, uuid.uuid4().bytes * 2),
            )
            conn.execute(
                "INSERT INTO audit_log (id, tenant_id, seq, at, actor, action, target, details,"
                " prev_hash, hash) VALUES (%s, %s, 1, now(), 'system:t', 'test.seed', 't', '{}',"
                " %s, %s)",
                (uuid.uuid4(), tid, "0" * 64, "1" * 64),
            )
        conn.execute(
            "INSERT INTO users (tenant_id, email, password_hash, roles)"
            " VALUES (NULL, 'root@example.test', 'x', '{platform_admin}')"
        )
    return db_clean


@pytest.fixture
async def db(two_tenants: str) -> AsyncIterator[Database]:
    database = Database(two_tenants, min_size=1, max_size=2)
    await database.open(wait=True)
    try:
        yield database
    finally:
        await database.close()


TENANT_TABLES = ("users", "refresh_families", "refresh_tokens", "audit_log")


async def count(conn: Connection, table: str) -> int:
    cur = await conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
    row = await cur.fetchone()
    assert row is not None
    found: int = row[0]
    return found


async def test_tenant_scope_sees_only_its_rows_without_a_filter(db: Database) -> None:
    async with db.tenant(A) as conn:
        for table in TENANT_TABLES:
            assert await count(conn, table) == 1, table
        cur = await conn.execute("SELECT email FROM users")
        assert [r[0] for r in await cur.fetchall()] == ["a@example.test"]
        cur = await conn.execute("SELECT id FROM tenants")
        assert [r[0] for r in await cur.fetchall()] == [A]


async def test_tenant_scope_never_sees_platform_users(db: Database) -> None:
    async with db.tenant(A) as conn:
        cur = await conn.execute("SELECT count(*) FROM users WHERE tenant_id IS NULL")
        row = await cur.fetchone()
        assert row == (0,)


async def test_platform_scope_sees_every_tenant(db: Database) -> None:
    async with db.platform() as conn:
        assert await count(conn, "tenants") == 2
        assert await count(conn, "users") == 3
        assert await count(conn, "audit_log") == 2


@pytest.mark.parametrize("table", ["tenants", *TENANT_TABLES])
async def test_an_unset_tenant_fails_closed(db: Database, table: str) -> None:
    # A pooled connection used outside tenant()/platform(): no scope at all.
    async with db.pool.connection() as conn:
        assert await count(conn, table) == 0
    async with db.anonymous() as conn:
        assert await count(conn, table) == 0


async def test_a_malformed_tenant_setting_is_an_error_not_a_leak(db: Database) -> None:
    async with db.pool.connection() as conn:
        await conn.execute("SELECT set_config('app.tenant_id', 'not-a-uuid', false)")
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            await conn.execute("SELECT count(*) FROM users")
        await conn.rollback()
        await conn.execute("RESET app.tenant_id")


async def test_tenant_scope_cannot_write_into_another_tenant(db: Database) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.tenant(A) as conn:
            await conn.execute(
                "INSERT INTO users (tenant_id, email, password_hash, roles)"
                " VALUES (%s, 'intruder@example.test', 'x', '{viewer}')",
                (B,),
            )
    async with db.tenant(A) as conn:
        cur = await conn.execute("UPDATE users SET roles = '{tenant_admin}'")
        assert cur.rowcount == 1  # its own user only
        cur = await conn.execute("UPDATE tenants SET status = 'suspended'")
        assert cur.rowcount == 0  # tenants change in platform scope only
    with psycopg.connect(db.conninfo) as owner:
        rows = owner.execute("SELECT email, roles FROM users ORDER BY email").fetchall()
    assert rows == [
        ("a@example.test", ["tenant_admin"]),
        ("b@example.test", ["viewer"]),
        ("root@example.test", ["platform_admin"]),
    ]


async def test_pre_authentication_lookups_return_only_the_named_row(db: Database) -> None:
    async with db.anonymous() as conn:
        cur = await conn.execute("SELECT tenant_id FROM auth_login_candidate('b@example.test')")
        assert await cur.fetchall() == [(B,)]
        cur = await conn.execute("SELECT count(*) FROM auth_login_candidate('')")
        assert await cur.fetchone() == (0,)


def test_every_tenant_owned_table_has_row_level_security_and_a_policy(
    database_url: str,
) -> None:
    """Guard: a new table with a ``tenant_id`` column must enable RLS with a policy."""
    with psycopg.connect(database_url) as conn:
        tables = conn.execute(
            """
            SELECT c.relname, c.relrowsecurity,
                   (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
              AND (c.relname = 'tenants' OR EXISTS (
                    SELECT 1 FROM pg_attribute a
                    WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
            ORDER BY 1
            """
        ).fetchall()
    names = {name for name, _, _ in tables}
    assert {"tenants", "users", "refresh_families", "refresh_tokens", "audit_log"} <= names
    missing = [name for name, rls, policies in tables if not rls or policies == 0]
    assert not missing, f"tenant-owned tables without RLS or a policy: {missing}"


def test_the_application_role_cannot_bypass_rls(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        role = conn.execute(
            "SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = %s",
            (APP_ROLE,),
        ).fetchone()
        owned = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner"
            " WHERE r.rolname = %s",
            (APP_ROLE,),
        ).fetchone()
    assert role == (False, False, False)
    assert owned == (0,)


def test_definer_functions_are_not_public_and_pin_search_path(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            """
            SELECT p.proname, p.proconfig,
                   has_function_privilege('public', p.oid, 'EXECUTE'),
                   has_function_privilege(%s, p.oid, 'EXECUTE')
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'public' AND p.prosecdef
            """,
            (APP_ROLE,),
        ).fetchall()
    assert {r[0] for r in rows} >= {"auth_login_candidate", "auth_refresh_token_owner"}
    for name, config, public, app in rows:
        assert any(c.startswith("search_path=") for c in config or []), name
        assert not public, name
        assert app, name
