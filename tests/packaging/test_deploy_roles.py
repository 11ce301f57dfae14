"""The production database set-up, end to end: deploy/postgres/roles.sql as a superuser,
``signage migrate`` as the non-superuser owner, the service as ``signage_node``.

compose.yaml runs exactly this (deploy/postgres/initdb/, then the ``migrate`` service, then
the nodes); docs/operations.md tells the same steps without containers.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from store.db import Database
from store.migrations import discover, migrate
from tests.conftest import ADMIN_URL, _with_database
from tests.packaging.test_database_roles import NODE_ROLE, as_role
from tests.pgurl import first_server
from tests.servers import REPO

pytestmark = pytest.mark.anyio
ROLES_SQL = REPO / "deploy" / "postgres" / "roles.sql"


def _psql(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql not installed")
    host, port = first_server(ADMIN_URL)
    server = ["-h", host, "-p", str(port)]
    user = str(conninfo_to_dict(ADMIN_URL).get("user") or "postgres")
    return subprocess.run(
        [psql, "--no-psqlrc", "-X", "-q", *server, "-U", user, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def installation() -> Iterator[str]:
    """roles.sql run for a fresh database name; yields that database's admin URL."""
    name = f"signage_deploy_{secrets.token_hex(5)}"
    script = (
        f"\\set owner_password {secrets.token_hex(8)}\n"
        f"\\set node_password {secrets.token_hex(8)}\n"
        f"\\set dbname {name}\n" + ROLES_SQL.read_text(encoding="utf-8")
    )
    try:
        done = _psql("-d", "postgres", stdin=script)
        assert done.returncode == 0, done.stderr
        # Run twice: an existing installation is kept as it is.
        again = _psql("-d", "postgres", stdin=script)
        assert again.returncode == 0, again.stderr
        yield _with_database(ADMIN_URL, name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def test_roles_sql_refuses_to_run_without_passwords() -> None:
    done = _psql("-d", "postgres", stdin=ROLES_SQL.read_text(encoding="utf-8"))
    assert "set -v owner_password" in done.stdout + done.stderr


async def test_owner_migrates_and_nodes_serve_as_the_node_role(installation: str) -> None:
    owner_url = as_role(installation, "signage_owner")
    with psycopg.connect(owner_url) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolbypassrls FROM pg_roles"
            " WHERE rolname = current_user"
        ).fetchone()
    assert row == (False, False, False)

    applied = await migrate(owner_url)
    assert [m.version for m in applied] == [m.version for m in discover()]

    with psycopg.connect(owner_url) as conn:
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
        ).fetchall()
    assert owners == [("signage_owner",)]

    node_url = as_role(installation, NODE_ROLE)
    assert await migrate(node_url) == []
    db = Database(node_url, min_size=1, max_size=1)
    await db.open(wait=True)
    try:
        async with db.platform() as conn:
            await conn.execute("INSERT INTO tenants (name, slug) VALUES ('Deployed', 'deployed')")
            cur = await conn.execute("SELECT current_user, session_user, count(*) FROM tenants")
            assert await cur.fetchone() == ("signage_app", NODE_ROLE, 1)
    finally:
        await db.close()
    with psycopg.connect(node_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("CREATE TABLE node_probe (id int)")
