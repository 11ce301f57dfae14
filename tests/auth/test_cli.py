"""``signage create-admin``, ``signage audit verify``, and the dev bootstrap admin."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.servers import REPO, running_server

PASSWORD = "a long enough password"


def signage(
    tmp_path: Path, database_url: str, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args],
        cwd=tmp_path,
        input=stdin,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(REPO),
            "ENV": "test",
            "DATABASE_URL": database_url,
            "PASSWORD_MEMORY_KIB": "1024",
            "PASSWORD_TIME_COST": "1",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def user_row(database_url: str, email: str) -> tuple[Any, ...] | None:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT tenant_id, roles, password_hash FROM users WHERE email = %s", (email,)
        ).fetchone()


def test_create_admin_reads_the_password_from_stdin(db_clean: str, tmp_path: Path) -> None:
    result = signage(
        tmp_path, db_clean, "create-admin", "--email", "Root@Example.TEST", stdin=PASSWORD + "\n"
    )
    assert result.returncode == 0, result.stderr
    assert "root@example.test" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr
    row = user_row(db_clean, "root@example.test")
    assert row is not None
    tenant_id, roles, password_hash = row
    assert tenant_id is None
    assert roles == ["platform_admin"]
    assert password_hash.startswith("$argon2id$")
    with psycopg.connect(db_clean) as conn:
        audit = conn.execute("SELECT actor, action FROM audit_log").fetchall()
    assert audit == [("system:create-admin", "user.create")]


def test_create_admin_reads_the_environment_and_creates_tenant_users(
    db_clean: str, tmp_path: Path
) -> None:
    with psycopg.connect(db_clean, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO tenants (name, slug) VALUES ('T', 't') RETURNING id"
        ).fetchone()
    assert row is not None
    tenant_id = row[0]
    result = signage(
        tmp_path,
        db_clean,
        "create-admin",
        "--email",
        "ed@example.test",
        "--tenant",
        str(tenant_id),
        "--role",
        "editor",
        "--role",
        "auditor",
        SIGNAGE_ADMIN_PASSWORD=PASSWORD,
    )
    assert result.returncode == 0, result.stderr
    assert user_row(db_clean, "ed@example.test")[:2] == (tenant_id, ["auditor", "editor"])  # type: ignore[index]


@pytest.mark.parametrize(
    ("args", "stdin", "code", "message"),
    [
        (["--email", "x@example.test"], "short\n", 2, "password"),
        (["--email", "not-an-email"], PASSWORD, 2, "email"),
        (["--email", "x@example.test", "--role", "editor"], PASSWORD, 2, "roles"),
        (
            ["--email", "x@example.test", "--tenant", "00000000-0000-4000-8000-000000000000"],
            PASSWORD,
            1,
            "no such tenant",
        ),
    ],
)
def test_create_admin_refuses_bad_input(
    db_clean: str, tmp_path: Path, args: list[str], stdin: str, code: int, message: str
) -> None:
    result = signage(tmp_path, db_clean, "create-admin", *args, stdin=stdin)
    assert result.returncode == code, result.stderr
    assert message in result.stderr


def test_create_admin_refuses_a_taken_email(db_clean: str, tmp_path: Path) -> None:
    assert (
        signage(
            tmp_path, db_clean, "create-admin", "--email", "a@example.test", stdin=PASSWORD
        ).returncode
        == 0
    )
    again = signage(tmp_path, db_clean, "create-admin", "--email", "A@example.test", stdin=PASSWORD)
    assert again.returncode == 1
    assert "exists" in again.stderr


def test_audit_verify_passes_then_names_a_tampered_entry(db_clean: str, tmp_path: Path) -> None:
    for i in range(3):
        signage(tmp_path, db_clean, "create-admin", "--email", f"a{i}@example.test", stdin=PASSWORD)
    ok = signage(tmp_path, db_clean, "audit", "verify", "--progress")
    assert ok.returncode == 0, ok.stderr
    assert "OK, 3 entries" in ok.stdout
    assert "[" + "#" * 40 + "] 3/3 entries" in ok.stderr
    with psycopg.connect(db_clean, autocommit=True) as conn, conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        row = conn.execute(
            "UPDATE audit_log SET actor = 'system:someone-else' WHERE seq = 2"
            " AND tenant_id IS NULL RETURNING id"
        ).fetchone()
    assert row is not None
    broken = signage(tmp_path, db_clean, "audit", "verify")
    assert broken.returncode == 1
    assert f"BROKEN at entry {row[0]} (seq 2)" in broken.stdout
    assert "#" not in broken.stderr  # no bar when stderr is not a terminal


def test_audit_verify_of_an_unknown_tenant_fails(db_clean: str, tmp_path: Path) -> None:
    result = signage(
        tmp_path, db_clean, "audit", "verify", "--tenant", "00000000-0000-4000-8000-000000000000"
    )
    assert result.returncode == 1
    assert "no such tenant" in result.stderr


@pytest.mark.slow
def test_dev_serve_creates_a_platform_admin_once(db_clean: str, tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": db_clean,
        "ENV": "dev",
        "PASSWORD_MEMORY_KIB": "1024",
        "PASSWORD_TIME_COST": "1",
    }
    with running_server(tmp_path, env, node_id="dev") as server:
        log = server.log()
        password = re.search(r"password: (\S+)", log)
        assert password is not None, log
        assert "curl -s -X POST" in log
        body = json.dumps({"email": "admin@localhost", "password": password.group(1)}).encode()
        request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1
            f"{server.base_url}/api/v1/auth/login",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310
            assert "access_token" in json.loads(r.read())
    with running_server(tmp_path, env, node_id="dev2") as again:
        assert "Development platform admin created" not in again.log()
