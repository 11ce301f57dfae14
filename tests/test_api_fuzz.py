"""Schemathesis against a real ``signage serve``: every operation of ``/openapi.json``, of
every tag, never answers 5xx and keeps to its documented statuses, media types and shapes,
whatever a (schema-guided) client sends it, with or without a valid token.

Path parameters are filled in with ids of real rows half of the time (a tenant, a user, a
device, content, a playlist, a schedule, an emergency, a broadcast), so that fuzzed
requests reach the use cases and the SQL behind them, not only the 404s.
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from psycopg import sql
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import ADMIN_URL, _with_database
from tests.servers import Server, create_admin, running_server

ADMIN_EMAIL = "fuzz-admin@example.test"
PASSWORD = "fuzzing the admin api"
FAST_HASHING = {"PASSWORD_MEMORY_KIB": "1024", "PASSWORD_TIME_COST": "1"}
#: Examples per operation and generation mode. ``make test`` takes a quick pass (every
#: operation, both modes, with and without real ids, in well under a minute); ``make fuzz``
#: sets ``SIGNAGE_FUZZ_EXAMPLES`` for the deep one (12 by default, several minutes).
EXAMPLES = int(os.environ.get("SIGNAGE_FUZZ_EXAMPLES", "3"))
ANONYMOUS_EXAMPLES = max(1, EXAMPLES // 2)
#: A deep run's budget grows with its depth (12 examples took ~90 s a mode, loaded).
FUZZ_TIMEOUT_S = max(600, 50 * EXAMPLES)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """A server on a database of its own, with a platform admin; yields (server, token)."""
    name = f"signage_fuzz_{secrets.token_hex(6)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_database(ADMIN_URL, name)
    tmp = tmp_path_factory.mktemp("fuzz")
    try:
        env = {
            "DATABASE_URL": url,
            "MEDIA_ROOT": str(tmp / "media"),
            **FAST_HASHING,
        }
        create_admin(url, ADMIN_EMAIL, PASSWORD)
        with running_server(tmp, env, node_id="fuzz") as server:
            yield server, _login(server, ADMIN_EMAIL)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _call(
    server: Server, method: str, path: str, payload: Any = None, token: str | None = None
) -> Any:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1
        f"{server.base_url}{path}",
        data=None if payload is None else json.dumps(payload).encode(),
        headers=headers,
        method=method,
    )
    with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310
        raw = r.read()
        return json.loads(raw) if raw else None


def _login(server: Server, email: str) -> str:
    tokens = _call(server, "POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD})
    token: str = tokens["access_token"]
    return token


@pytest.fixture(scope="module")
def known_ids(fuzz_server: tuple[Server, str]) -> dict[str, str]:
    """One real row of every kind a path names."""
    server, token = fuzz_server

    def post(path: str, payload: Any = None, as_: str = token) -> Any:
        return _call(server, "POST", path, payload if payload is not None else {}, as_)

    tenant = post("/api/v1/tenants", {"name": "Fuzzed", "slug": "fuzzed"})
    base = f"/api/v1/tenants/{tenant['id']}"
    user = post(
        f"{base}/users", {"email": "fuzzed@example.test", "password": PASSWORD, "roles": ["viewer"]}
    )
    post(
        f"{base}/users",
        {"email": "approver@example.test", "password": PASSWORD, "roles": ["approver"]},
    )
    approver = _login(server, "approver@example.test")
    screen = _call(server, "POST", "/api/v1/devices/register", {"hardware_id": "fuzz-screen"})
    device = post(
        f"{base}/devices/claim", {"pairing_code": screen["pairing_code"], "name": "Fuzzed"}
    )
    content = post(
        f"{base}/content", {"name": "Fuzzed", "kind": "text", "body": "Hi", "duration_s": 10}
    )
    post(f"{base}/content/{content['id']}/submit")
    post(f"{base}/content/{content['id']}/approve", as_=approver)
    playlist = post(
        f"{base}/playlists", {"name": "Fuzzed", "items": [{"content_id": content["id"]}]}
    )
    schedule = post(
        f"{base}/schedules",
        {"playlist_id": playlist["id"], "target": {"all": True}, "priority": 1},
    )
    emergency = post(
        f"{base}/emergencies",
        {"message": "Fuzzed", "severity": "info", "target": {"all": True}, "expires_in_s": 60},
    )
    post(
        f"{base}/users",
        {"email": "operator@example.test", "password": PASSWORD, "roles": ["emergency_operator"]},
    )
    template = post(
        f"{base}/emergency-templates",
        {"name": "Fuzzed", "message": "Fuzzed", "severity": "info", "target": {"all": True}},
    )
    post(
        f"{base}/emergency-templates/{template['id']}/approve",
        as_=_login(server, "operator@example.test"),
    )
    broadcast = post(
        "/api/v1/emergencies",
        {"message": "Fuzzed", "severity": "info", "target": {"all": True}, "expires_in_s": 60},
    )
    return {
        "tenant_id": tenant["id"],
        "user_id": user["id"],
        "device_id": device["id"],
        "content_id": content["id"],
        "playlist_id": playlist["id"],
        "schedule_id": schedule["id"],
        "emergency_id": emergency["id"],
        "broadcast_id": broadcast["id"],
        "template_id": template["id"],
        "kind": "tenant",
        "id": tenant["id"],
    }


@pytest.fixture(scope="module")
def operations(fuzz_server: tuple[Server, str]) -> list[Any]:
    server, _ = fuzz_server
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    found: list[Any] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        found.append(result.ok())
    return found


def test_every_tag_of_the_document_is_fuzzed(
    operations: list[Any], fuzz_server: tuple[Server, str]
) -> None:
    """The fuzz tests below take every operation: none is left out by tag or by a
    schema schemathesis cannot read."""
    server, _ = fuzz_server
    with urllib.request.urlopen(f"{server.base_url}/openapi.json", timeout=10) as r:  # noqa: S310
        document = json.loads(r.read())
    documented = {
        (method.upper(), path, op["tags"][0])
        for path, item in document["paths"].items()
        for method, op in item.items()
    }
    fuzzed = {(op.method.upper(), op.path, op.tags[0]) for op in operations}
    # Schemathesis leaves out the document's own URL (tests/test_openapi.py validates it).
    assert fuzzed == documented - {("GET", "/openapi.json", "health")}
    assert len({tag for _, _, tag in documented}) >= 11, documented


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
    # /ready's 503 is an answer (not ready: e.g. a migration file appeared), not a fault.
    checks = [c for c in CHECKS if c is not not_a_server_error or operation.label != "GET /ready"]

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
        case.call_and_validate(headers=headers, checks=checks)

    try:
        run()
    except Unsatisfiable:
        # Negative mode on an operation that takes nothing (no parameter, no body): there
        # is nothing to break. Any other mode must generate.
        if mode is not GenerationMode.NEGATIVE:
            raise


def fuzz_all(runs: Sequence[tuple[Any, dict[str, str] | None]], **kw: Any) -> None:
    """Fuzz each (operation, known ids); report every failing operation at once."""
    failures: list[str] = []
    for operation, known in runs:
        try:
            fuzz(operation, known=known, **kw)
        except (Exception, BaseExceptionGroup) as exc:  # one failure must not hide the next
            failures.append(f"{operation.label}{' (known ids)' if known else ''}: {exc}")
    assert not failures, "\n\n".join(failures)


def _destructive_last(operations: list[Any]) -> list[Any]:
    """Reads and edits first; then what ends a row's life (revoke, archive, delete,
    suspend, clear), so the known rows stay alive for most of the run."""
    ending = ("revoke", "archive", "suspend", "clear", "rotate-secret")

    def late(op: Any) -> bool:
        return op.method.lower() == "delete" or op.path.rsplit("/", 1)[-1] in ending

    return sorted(operations, key=late)


@pytest.mark.slow
@pytest.mark.timeout(FUZZ_TIMEOUT_S)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_as_platform_admin(
    operations: list[Any],
    fuzz_server: tuple[Server, str],
    known_ids: dict[str, str],
    mode: GenerationMode,
) -> None:
    _, token = fuzz_server
    runs = [(op, known) for op in _destructive_last(operations) for known in (None, known_ids)]
    fuzz_all(runs, mode=mode, examples=EXAMPLES, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.slow
@pytest.mark.timeout(FUZZ_TIMEOUT_S)
def test_the_api_without_credentials(operations: list[Any], known_ids: dict[str, str]) -> None:
    runs = [(op, known_ids) for op in operations]
    fuzz_all(runs, mode=GenerationMode.POSITIVE, examples=ANONYMOUS_EXAMPLES, headers={})


@pytest.mark.slow
def test_the_fuzzed_server_kept_its_log_clean_of_tracebacks(
    fuzz_server: tuple[Server, str],
) -> None:
    server, _ = fuzz_server
    log = Path(server.log_path).read_text(errors="replace")
    tracebacks = [part[:3000] for part in log.split("Traceback (most recent call last):")[1:]]
    assert tracebacks == []
