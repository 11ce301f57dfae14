"""/health, /ready, /openapi.json and problem+json for framework errors."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from quart.typing import TestClientProtocol as Client

from actors.settings import Settings
from edge.app import create_app
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio


async def test_health_is_ok(client: Client) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok"}


async def test_ready_when_database_reachable_and_migrated(client: Client) -> None:
    response = await client.get("/ready")
    body = await response.get_json()
    assert response.status_code == 200, body
    assert body["database"] == "ok"
    assert body["migrations"] == "ok"
    assert body["relay"] == "single-node"


async def test_ready_is_503_when_database_unreachable() -> None:
    # Port 1 on loopback: nothing listens, connections are refused at once.
    settings = make_settings("postgresql://postgres@127.0.0.1:1/nowhere", db_connect_timeout_s=0.5)
    app = create_app(settings)
    async with app.test_app():
        response = await app.test_client().get("/ready")
        body = await response.get_json()
    assert response.status_code == 503
    assert body["database"] == "down"
    assert response.content_type == "application/json"


async def test_ready_is_503_while_a_migration_is_pending(database_url: str, tmp_path: Path) -> None:
    # Record a fake applied migration that the build does not ship: a mismatch, not ready.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (9990, 'x', 'y')"
        )
    try:
        app = create_app(make_settings(database_url))
        async with app.test_app():
            response = await app.test_client().get("/ready")
            body = await response.get_json()
        assert response.status_code == 503
        assert body["migrations"] == "mismatch"
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM schema_migrations WHERE version = 9990")


async def test_unknown_path_is_problem_json_404(client: Client) -> None:
    response = await client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    body = await response.get_json()
    assert body["status"] == 404
    assert {"type", "title", "detail"} <= body.keys()


async def test_wrong_method_is_problem_json_405(client: Client) -> None:
    response = await client.delete("/health")
    assert response.status_code == 405
    assert response.content_type == "application/problem+json"


async def test_oversized_body_is_problem_json_413(client: Client) -> None:
    size = 1024 * 1024 + 1
    response = await client.post(
        "/no/such/route", data=b"x" * size, headers={"Content-Length": str(size)}
    )
    assert response.status_code == 413
    assert response.content_type == "application/problem+json"


async def test_request_id_is_echoed_or_generated(client: Client) -> None:
    echoed = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["X-Request-ID"] == "abc-123"
    fresh = await client.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert fresh.headers["X-Request-ID"] != "bad id with spaces"
    assert len(fresh.headers["X-Request-ID"]) == 32


async def test_openapi_document_lists_the_routes(client: Client) -> None:
    response = await client.get("/openapi.json")
    doc = await response.get_json()
    assert doc["openapi"].startswith("3.1")
    assert "/health" in doc["paths"]
    assert "/ready" in doc["paths"]
    assert "Problem" in doc["components"]["schemas"]


async def test_unexpected_error_is_problem_json_500_without_internals(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("secret internal detail")

    async with app.test_app():
        response = await app.test_client().get("/boom", headers={"X-Request-ID": "req-500"})
        body = await response.get_json()
    assert response.status_code == 500
    assert response.content_type == "application/problem+json"
    assert "secret internal detail" not in str(body)
    assert body["request_id"] == "req-500"


async def test_a_value_the_database_cannot_store_is_422_not_500(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/nul")
    async def nul() -> str:
        store = app.extensions["signage.container"].db
        async with store.platform() as conn:
            await conn.execute("SELECT %s::text", ("a\x00b",))
        return "unreachable"

    async with app.test_app():
        response = await app.test_client().get("/nul")
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
