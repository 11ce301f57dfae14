"""Two real ``signage serve`` processes sharing PostgreSQL and Redis: an integration token
revoked through node A is refused by node B on the very next request (every request is
checked against PostgreSQL; no node caches a credential)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REDIS_URL, truncate_all
from tests.servers import Server, create_admin, running_server

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PASSWORD = "correct horse battery staple"


@pytest.fixture
def nodes(database_url: str, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "RELAY_CHANNEL_PREFIX": f"test-{secrets.token_hex(4)}",
        "PASSWORD_MEMORY_KIB": "1024",
        "PASSWORD_TIME_COST": "1",
    }
    create_admin(database_url, "root@example.test", PASSWORD)
    try:
        with (
            running_server(tmp_path, env, node_id="node-a") as a,
            running_server(tmp_path, env, node_id="node-b") as b,
        ):
            yield a, b
    finally:
        truncate_all(database_url)


async def test_a_token_revoked_on_node_a_is_refused_by_node_b_at_once(
    nodes: tuple[Server, Server],
) -> None:
    a, b = nodes
    async with (
        httpx.AsyncClient(base_url=a.base_url, timeout=10) as node_a,
        httpx.AsyncClient(base_url=b.base_url, timeout=10) as node_b,
    ):
        login = await node_a.post(
            "/api/v1/auth/login", json={"email": "root@example.test", "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        tenant = (
            await node_a.post(
                "/api/v1/tenants", json={"name": "Campus", "slug": "campus"}, headers=admin
            )
        ).json()
        integrations = f"/api/v1/tenants/{tenant['id']}/integrations"
        created = await node_a.post(
            integrations,
            json={"name": "Fire panel", "roles": ["emergency_operator"]},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        bearer = {"Authorization": f"Bearer {created.json()['token']}"}
        emergencies = f"/api/v1/tenants/{tenant['id']}/emergencies"
        assert (await node_b.get(emergencies, headers=bearer)).status_code == 200
        assert (await node_a.get(emergencies, headers=bearer)).status_code == 200

        revoked = await node_a.delete(f"{integrations}/{created.json()['id']}", headers=admin)
        assert revoked.status_code == 204
        # No waiting: the DELETE has committed, and node B asks PostgreSQL per request.
        refused = await node_b.get(emergencies, headers=bearer)
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert (await node_a.get(emergencies, headers=bearer)).status_code == 401
