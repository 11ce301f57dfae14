"""Schemathesis against a real ``signage serve``: the auth, tenant, user and audit
operations of ``/openapi.json`` never answer 5xx and keep to their documented shapes,
whatever a (schema-guided) client sends them, with or without a valid token."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from psycopg import sql
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from store.migrations import migrate
from tests.conftest import ADMIN_URL, _with_database
from tests.servers import REPO, Server, running_server

ADMIN_EMAIL = "fuzz-admin@example.test"
ADMIN_PASSWORD = "fuzzing the admin api"
TAGS = ["auth", "tenants", "users", "audit"]
FAST_HASHING = {"PASSWORD_MEMORY_KIB": "1024", "PASSWORD_TIME_COST": "1"}


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """A server on a database of its own, with a platform admin; yields (server, token)."""
    import asyncio

    name = f"signage_fuzz_{secrets.token_hex(6)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_database(ADMIN_URL, name)
    tmp = tmp_path_factory.mktemp("fuzz")
    try:
        asyncio.run(migrate(url))
        env = {"DATABASE_URL": url, **FAST_HASHING}
        created = subprocess.run(
            [sys.executable, "-m", "edge.cli", "create-admin", "--email", ADMIN_EMAIL],
            cwd=tmp,
            input=ADMIN_PASSWORD,
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "ENV": "test", **env},
        )
        assert created.returncode == 0, created.stderr
        with running_server(tmp, env, node_id="fuzz") as server:
            body = json.dumps({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).encode()
            request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1
                f"{server.base_url}/api/v1/auth/login",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310
                token = json.loads(r.read())["access_token"]
            yield server, token

    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _post(server: Server, token: str, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1
        f"{server.base_url}{path}",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310
        found: dict[str, Any] = json.loads(r.read())
        return found


@pytest.fixture(scope="module")
def known_ids(fuzz_server: tuple[Server, str]) -> dict[str, str]:
    """A real tenant and user, so that fuzzed requests also reach past the 404s."""
    server, token = fuzz_server
    tenant = _post(server, token, "/api/v1/tenants", {"name": "Fuzzed", "slug": "fuzzed"})
    user = _post(
        server,
        token,
        f"/api/v1/tenants/{tenant['id']}/users",
        {"email": "fuzzed@example.test", "password": ADMIN_PASSWORD, "roles": ["viewer"]},
    )
    return {"tenant_id": tenant["id"], "user_id": user["id"]}


@pytest.fixture(scope="module")
def operations(fuzz_server: tuple[Server, str]) -> list[Any]:
    server, _ = fuzz_server
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json").include(tag=TAGS)
    found: list[Any] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        found.append(result.ok())
    assert len(found) >= 15, [op.label for op in found]
    return found


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def fuzz(
    operation: Any,
    mode: GenerationMode,
    examples: int,
    headers: dict[str, str],
    known: dict[str, str] | None = None,
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        if known and case.path_parameters:
            # Valid ids reach the use cases; random ones only ever meet a 404.
            case.path_parameters.update(
                {k: v for k, v in known.items() if k in case.path_parameters}
            )
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_admin_api_as_platform_admin(
    operations: list[Any],
    fuzz_server: tuple[Server, str],
    known_ids: dict[str, str],
    mode: GenerationMode,
) -> None:
    _, token = fuzz_server
    bearer = {"Authorization": f"Bearer {token}"}
    for operation in operations:
        fuzz(operation, mode, 20, bearer)
        fuzz(operation, mode, 20, bearer, known_ids)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_admin_api_without_credentials(operations: list[Any]) -> None:
    for operation in operations:
        fuzz(operation, GenerationMode.POSITIVE, 10, {})
