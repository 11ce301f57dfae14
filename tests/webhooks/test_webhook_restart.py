"""A real ``signage serve`` writes deliveries while the receiver is down and is stopped;
another one started later delivers every one of them, signed and in order: the outbox is
PostgreSQL, so nothing is lost across a restart."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from actors.domain.webhooks import verify
from tests.conftest import truncate_all
from tests.servers import create_admin, free_port, running_server
from tests.waiting import eventually
from tests.webhooks.receiver import Receiver, serving

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PASSWORD = "correct horse battery staple"


async def test_deliveries_written_before_a_restart_are_delivered_after_it(
    database_url: str, tmp_path: Path
) -> None:
    receiver = Receiver(free_port())
    env = {
        "DATABASE_URL": database_url,
        "PASSWORD_MEMORY_KIB": "1024",
        "PASSWORD_TIME_COST": "1",
        "WEBHOOK_ALLOW_HTTP": "true",
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
        "WEBHOOK_BACKOFF_BASE_S": "0.2",
        "WEBHOOK_BACKOFF_MAX_S": "0.5",
        "WEBHOOK_POLL_S": "0.1",
    }
    create_admin(database_url, "root@example.test", PASSWORD)
    try:
        with running_server(tmp_path, env, node_id="before") as node:
            async with httpx.AsyncClient(base_url=node.base_url, timeout=10) as http:
                admin = await _login(http)
                tenant = (
                    await http.post(
                        "/api/v1/tenants", json={"name": "Campus", "slug": "campus"}, headers=admin
                    )
                ).json()
                hooks = f"/api/v1/tenants/{tenant['id']}/webhooks"
                hook = (
                    await http.post(
                        hooks,
                        json={"url": receiver.url, "events": ["emergency.triggered"]},
                        headers=admin,
                    )
                ).json()
                started = []
                for n in range(3):
                    response = await http.post(
                        f"/api/v1/tenants/{tenant['id']}/emergencies",
                        json={"message": f"Alert {n}", "severity": "info", "target": {"all": True}},
                        headers=admin,
                    )
                    assert response.status_code == 201, response.text
                    started.append(response.json()["id"])
                log = f"{hooks}/{hook['id']}/deliveries"

                async def attempted() -> bool:
                    items = (await http.get(log, headers=admin)).json()["items"]
                    return bool(items[-1]["attempts"] >= 1)

                await eventually(attempted, timeout_s=10, every_s=0.05)
        assert receiver.snapshot() == []

        with serving(receiver), running_server(tmp_path, env, node_id="after") as node:
            await eventually(lambda: len(receiver.snapshot()) >= 3, timeout_s=15)
            async with httpx.AsyncClient(base_url=node.base_url, timeout=10) as http:
                admin = await _login(http)

                async def all_delivered() -> bool:
                    items = (await http.get(log, headers=admin)).json()["items"]
                    return all(d["state"] == "delivered" for d in items)

                await eventually(all_delivered, timeout_s=10, every_s=0.05)
        events = []
        for request in receiver.snapshot():
            signature = request.headers["signage-signature"]
            assert verify(hook["secret"], request.body, signature, now=time.time())
            events.append(json.loads(request.body))
        assert [e["data"]["emergency_id"] for e in events] == started
    finally:
        truncate_all(database_url)


async def _login(http: httpx.AsyncClient) -> dict[str, str]:
    login = await http.post(
        "/api/v1/auth/login", json={"email": "root@example.test", "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    token: Any = login.json()["access_token"]
    return {"Authorization": f"Bearer {token}"}
