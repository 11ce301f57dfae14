"""L8: the nodes log in as ``signage_node``, which nothing can turn into an RLS bypass.

The shipped compose once ran the nodes as a PostgreSQL superuser: ``SET ROLE signage_app``
bound them to row-level security, and one ``RESET ROLE`` undid it. ``signage_node`` is a
LOGIN role that is a member of ``signage_app`` only, owns nothing and has no superuser or
BYPASSRLS attribute, so every role a node's connection can reach is bound by RLS.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from psycopg import errors

from store.db import Database
from store.migrations import DEFAULT_MIGRATIONS_DIR, MigrationError, migrate
from tests.packaging.databases import empty_database
from tests.pgurl import as_user

pytestmark = pytest.mark.anyio

NODE_ROLE = "signage_node"
ROLE_SQL = DEFAULT_MIGRATIONS_DIR.joinpath("0060_node_login_role.sql").read_text(encoding="utf-8")


def as_role(url: str, role: str) -> str:
    """``url`` with ``role`` as the user (the test server trusts local connections)."""
    return as_user(url, role)


@pytest.fixture
def tenant_row(db_clean: str) -> str:
    """A tenant inserted by the owner; the database is emptied afterwards."""
    tenant = str(uuid4())
    with psycopg.connect(db_clean) as owner:
        owner.execute(
            "INSERT INTO tenants (id, name, slug) VALUES (%s, 'Roles', %s)",
            (tenant, f"roles-{tenant[:8]}"),
        )
    return tenant


def test_node_role_has_no_power_and_owns_nothing(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT rolcanlogin, rolinherit, rolsuper, rolbypassrls, rolcreaterole,"
            " rolcreatedb, rolreplication FROM pg_roles WHERE rolname = %s",
            (NODE_ROLE,),
        ).fetchone()
        assert row == (True, True, False, False, False, False, False)
        reachable = conn.execute(
            "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles"
            " WHERE pg_has_role(%s, oid, 'MEMBER') ORDER BY rolname",
            (NODE_ROLE,),
        ).fetchall()
        assert reachable == [("signage_app", False, False), ("signage_node", False, False)]
        owned = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner"
            " WHERE r.rolname IN ('signage_node', 'signage_app')"
        ).fetchone()
        assert owned == (0,)


def test_reset_role_leaves_the_node_bound_by_rls(database_url: str, tenant_row: str) -> None:
    with psycopg.connect(as_role(database_url, NODE_ROLE), autocommit=True) as conn:
        conn.execute("SET ROLE signage_app")
        conn.execute("RESET ROLE")
        who = conn.execute("SELECT current_user, session_user").fetchone()
        assert who == (NODE_ROLE, NODE_ROLE)
        # No tenant scope set: RLS shows no tenant row, even with the role reset.
        assert conn.execute("SELECT count(*) FROM tenants").fetchone() == (0,)
        # Policies still apply rather than being switched off.
        conn.execute("SET row_security = off")
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("SELECT count(*) FROM tenants")
        conn.execute("RESET row_security")
        # With the tenant scope it sees exactly that tenant: the privileges are signage_app's.
        with conn.transaction():
            conn.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant_row,))
            seen = conn.execute("SELECT id::text FROM tenants").fetchall()
        assert seen == [(tenant_row,)]


@pytest.mark.parametrize(
    "statement",
    [
        "SET ROLE postgres",
        "SET SESSION AUTHORIZATION postgres",
        "ALTER TABLE tenants DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE tenants NO FORCE ROW LEVEL SECURITY",
        "DROP POLICY tenants_select ON tenants",
        "CREATE TABLE escape_probe (id int)",
        "ALTER ROLE signage_node BYPASSRLS",
        "GRANT postgres TO signage_node",
        "CREATE ROLE escape_probe SUPERUSER",
    ],
)
def test_the_node_cannot_escape_rls(database_url: str, statement: str) -> None:
    with psycopg.connect(as_role(database_url, NODE_ROLE), autocommit=True) as conn:
        conn.execute("RESET ROLE")
        with pytest.raises((errors.InsufficientPrivilege, errors.InvalidGrantOperation)):
            conn.execute(statement)


async def test_the_service_runs_as_the_node_role(database_url: str, tenant_row: str) -> None:
    db = Database(as_role(database_url, NODE_ROLE), min_size=1, max_size=2)
    await db.open(wait=True)
    try:
        async with db.platform() as conn:
            cur = await conn.execute("SELECT current_user, session_user, count(*) FROM tenants")
            assert await cur.fetchone() == ("signage_app", NODE_ROLE, 1)
    finally:
        await db.close()


async def test_the_node_role_checks_migrations_but_never_applies_them(
    database_url: str, tmp_path: Path
) -> None:
    node_url = as_role(database_url, NODE_ROLE)
    assert await migrate(node_url) == []
    for m in DEFAULT_MIGRATIONS_DIR.iterdir():
        if m.name.endswith(".sql"):
            (tmp_path / m.name).write_bytes(m.read_bytes())
    (tmp_path / "9999_extra.sql").write_text("CREATE TABLE extra_probe (id int);")
    with pytest.raises(MigrationError, match=r"1 migration\(s\) pending \(9999_extra\.sql\)"):
        await migrate(node_url, tmp_path)


def test_the_role_migration_is_idempotent(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(ROLE_SQL)
        conn.execute(ROLE_SQL)


async def test_databases_migrated_at_once_on_one_server_all_succeed() -> None:
    with empty_database() as a, empty_database() as b, empty_database() as c:
        results = await asyncio.gather(migrate(a), migrate(b), migrate(c))
    assert len({len(r) for r in results}) == 1


@pytest.mark.parametrize(
    ("setup", "refusal"),
    [
        ("CREATE ROLE {probe} LOGIN BYPASSRLS", "powers the nodes must not have"),
        ("CREATE ROLE {probe} LOGIN CREATEROLE", "powers the nodes must not have"),
        ("CREATE ROLE {probe} LOGIN IN ROLE pg_read_all_data", "is a member of pg_read_all_data"),
    ],
)
def test_a_node_role_with_powers_is_refused(database_url: str, setup: str, refusal: str) -> None:
    # The migration's checks, run against a throwaway role name (never the shared
    # signage_node: roles belong to the whole test server).
    probe = f"signage_probe_{uuid4().hex[:8]}"
    body = ROLE_SQL.replace("signage_node", probe)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(setup.format(probe=probe))
        try:
            with pytest.raises(errors.RaiseException, match=refusal):
                conn.execute(body)
        finally:
            conn.execute(f"DROP OWNED BY {probe}")
            conn.execute(f"DROP ROLE {probe}")
