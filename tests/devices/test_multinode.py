"""Two real ``signage serve`` processes sharing PostgreSQL and Redis: a device connected to
node B is revoked (or deleted) through node A and its session closes within two seconds; a
command sent through node A reaches it on node B, and its answer and status show on A."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from actors.protocol import CloseCode
from tests.conftest import REDIS_URL, truncate_all
from tests.servers import Server, create_admin, running_server
from tests.waiting import eventually

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PASSWORD = "correct horse battery staple"
REVOCATION_BUDGET_S = 2.0


@pytest.fixture
def cluster(database_url: str, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        # Its own relay channels: other test runs on this Redis cannot interfere.
        "RELAY_CHANNEL_PREFIX": f"test-{secrets.token_hex(4)}",
        "PASSWORD_MEMORY_KIB": "1024",
        "PASSWORD_TIME_COST": "1",
        "FLEET_STATUS_FLUSH_S": "0.2",
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


async def _login(http: httpx.AsyncClient) -> dict[str, str]:
    response = await http.post(
        "/api/v1/auth/login", json={"email": "root@example.test", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _approved_device(a: Server, b: Server) -> tuple[dict[str, Any], str, dict[str, str]]:
    """Register through B, claim through A: returns (tenant, device secret, admin auth)."""
    async with (
        httpx.AsyncClient(base_url=a.base_url, timeout=10) as node_a,
        httpx.AsyncClient(base_url=b.base_url, timeout=10) as node_b,
    ):
        auth = await _login(node_a)
        tenant = (
            await node_a.post(
                "/api/v1/tenants", json={"name": "Campus", "slug": "campus"}, headers=auth
            )
        ).json()
        screen = (await node_b.post("/api/v1/devices/register", json={"hardware_id": "hw"})).json()
        claimed = await node_a.post(
            f"/api/v1/tenants/{tenant['id']}/devices/claim",
            json={"pairing_code": screen["pairing_code"], "name": "Hall"},
            headers=auth,
        )
        assert claimed.status_code == 200, claimed.text
    return {**tenant, "device_id": screen["device_id"]}, screen["device_secret"], auth


async def _frame(ws: ClientConnection) -> dict[str, Any]:
    with anyio.fail_after(5):
        decoded: dict[str, Any] = json.loads(await ws.recv())
    return decoded


async def test_revoking_through_node_a_closes_the_session_on_node_b(
    cluster: tuple[Server, Server],
) -> None:
    a, b = cluster
    tenant, secret, auth = await _approved_device(a, b)
    headers = {"Authorization": f"Bearer {secret}"}
    async with connect(f"{b.ws_url}/api/v1/devices/ws", additional_headers=headers) as ws:
        assert (await _frame(ws))["type"] == "welcome"
        path = f"/api/v1/tenants/{tenant['id']}/devices/{tenant['device_id']}"
        async with httpx.AsyncClient(base_url=a.base_url, timeout=10) as node_a:
            # Presence crosses nodes too (Redis, refreshed every presence interval).
            async def online() -> bool:
                return bool((await node_a.get(path, headers=auth)).json()["online"])

            await eventually(online, timeout_s=10, every_s=0.1)
            assert (await node_a.get(path, headers=auth)).json()["node_id"] == "node-b"
            started = time.monotonic()
            revoked = await node_a.post(path + "/revoke", headers=auth)
            assert revoked.status_code == 200
        with anyio.fail_after(REVOCATION_BUDGET_S):
            while (await _frame(ws))["type"] != "revoked":
                pass
            await ws.wait_closed()
        elapsed = time.monotonic() - started
    assert ws.close_code == CloseCode.UNAUTHORIZED
    assert elapsed < REVOCATION_BUDGET_S


async def test_a_command_sent_through_node_a_reaches_the_screen_on_node_b_and_its_answer_shows(
    cluster: tuple[Server, Server],
) -> None:
    a, b = cluster
    tenant, secret, auth = await _approved_device(a, b)
    headers = {"Authorization": f"Bearer {secret}"}
    path = f"/api/v1/tenants/{tenant['id']}/devices/{tenant['device_id']}"
    async with (
        connect(f"{b.ws_url}/api/v1/devices/ws", additional_headers=headers) as ws,
        httpx.AsyncClient(base_url=a.base_url, timeout=10) as node_a,
    ):
        assert (await _frame(ws))["type"] == "welcome"
        await ws.send(json.dumps({"type": "heartbeat", "app_version": "3.1.0", "uptime_s": 5}))

        async def online() -> bool:
            return bool((await node_a.get(path, headers=auth)).json()["online"])

        await eventually(online, timeout_s=10, every_s=0.1)  # presence crosses nodes via Redis
        sent = await node_a.post(path + "/commands", json={"name": "identify"}, headers=auth)
        assert sent.status_code == 202, sent.text
        command = sent.json()
        with anyio.fail_after(REVOCATION_BUDGET_S):
            while (received := await _frame(ws))["type"] != "command":
                pass
        assert received == {"type": "command", "id": command["id"], "name": "identify"}
        answer = {"type": "command_result", "id": command["id"], "result": "unsupported"}
        await ws.send(json.dumps(answer))

        async def answered() -> bool:
            items = (await node_a.get(path + "/commands", headers=auth)).json()["items"]
            return bool(items[0]["state"] == "unsupported")

        await eventually(answered, timeout_s=10, every_s=0.1)  # B writes it; A reads PostgreSQL

        # The status node B received is shown by node A once B's batch is written.
        async def health_shown() -> bool:
            return (await node_a.get(path, headers=auth)).json()["health"] is not None

        await eventually(health_shown, timeout_s=10, every_s=0.1)
        health = (await node_a.get(path, headers=auth)).json()["health"]
    assert health["node_id"] == "node-b"
    assert health["app_version"] == "3.1.0"


async def test_deleting_through_node_a_closes_the_session_on_node_b(
    cluster: tuple[Server, Server],
) -> None:
    a, b = cluster
    tenant, secret, auth = await _approved_device(a, b)
    headers = {"Authorization": f"Bearer {secret}"}
    path = f"/api/v1/tenants/{tenant['id']}/devices/{tenant['device_id']}"
    async with connect(f"{b.ws_url}/api/v1/devices/ws", additional_headers=headers) as ws:
        assert (await _frame(ws))["type"] == "welcome"
        async with httpx.AsyncClient(base_url=a.base_url, timeout=10) as node_a:
            assert (await node_a.delete(path, headers=auth)).status_code == 204
        with anyio.fail_after(REVOCATION_BUDGET_S):
            while (await _frame(ws))["type"] != "revoked":
                pass
            await ws.wait_closed()
    assert ws.close_code == CloseCode.UNAUTHORIZED


async def test_a_session_opened_on_node_a_closes_the_devices_session_on_node_b_4409(
    cluster: tuple[Server, Server],
) -> None:
    a, b = cluster
    tenant, secret, auth = await _approved_device(a, b)
    headers = {"Authorization": f"Bearer {secret}"}
    path = f"/api/v1/tenants/{tenant['id']}/devices/{tenant['device_id']}"
    async with (
        httpx.AsyncClient(base_url=a.base_url, timeout=10) as node_a,
        connect(f"{b.ws_url}/api/v1/devices/ws", additional_headers=headers) as old,
    ):
        assert (await _frame(old))["type"] == "welcome"

        async def on(node: str) -> bool:
            found = (await node_a.get(path, headers=auth)).json()
            return bool(found["online"] and found["node_id"] == node)

        await eventually(lambda: on("node-b"), timeout_s=10, every_s=0.1)
        async with connect(f"{a.ws_url}/api/v1/devices/ws", additional_headers=headers) as new:
            assert (await _frame(new))["type"] == "welcome"
            with anyio.fail_after(5):
                await old.wait_closed()
            assert old.close_code == CloseCode.REPLACED
            await new.send('{"type":"heartbeat"}')
            await new.ping()  # the new session is still up
            await eventually(lambda: on("node-a"), timeout_s=10, every_s=0.1)
