"""Per-screen delivery across real nodes: two ``signage serve`` processes sharing
PostgreSQL and a private Redis, screens on both, the emergency triggered through one and
the list read through either: every screen is named with the node it is connected to
(shared presence), acknowledged ones as delivered wherever they acked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from websockets.asyncio.client import connect

from tests.emergencies.cluster import Api, cluster
from tests.waiting import eventually

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SCREENS = 4
WAIT_S = 10.0


async def test_each_screen_is_listed_with_its_node_from_any_node(
    db_clean: str, tmp_path: Path
) -> None:
    with cluster(tmp_path, db_clean, nodes=2) as nodes:
        credentials = await anyio.to_thread.run_sync(nodes.screens, SCREENS)
        expected_node = {device: f"node-{i % 2}" for i, (device, _) in enumerate(credentials)}
        sockets = []
        try:
            for index, (_device, secret) in enumerate(credentials):
                ws = await connect(
                    nodes.ws_url(index), additional_headers={"Authorization": f"Bearer {secret}"}
                )
                sockets.append(ws)
                with anyio.fail_after(WAIT_S):
                    assert json.loads(await ws.recv())["type"] == "welcome"
            started = await anyio.to_thread.run_sync(
                nodes.operator.call,
                "POST",
                f"/api/v1/tenants/{nodes.tenant_id}/emergencies",
                {"message": "Across nodes", "severity": "critical", "target": {"all": True}},
            )
            # The screens on node-0 acknowledge; those on node-1 stay silent.
            for index, ws in enumerate(sockets):
                with anyio.fail_after(WAIT_S):
                    while json.loads(await ws.recv())["type"] != "emergency":
                        pass
                if index % 2 == 0:
                    await ws.send(json.dumps({"type": "ack", "emergency_id": started["id"]}))
            path = f"/api/v1/tenants/{nodes.tenant_id}/emergencies/{started['id']}/deliveries"

            def settled(rows: list[dict[str, Any]]) -> bool:
                return (
                    all(
                        r["node"] == expected_node[r["device_id"]]
                        and r["state"] == ("delivered" if r["node"] == "node-0" else "pending")
                        for r in rows
                    )
                    and len(rows) == SCREENS
                )

            for server in nodes.servers:
                reader = nodes.operator.on(server)

                async def settled_on(reader: Api = reader) -> bool:
                    body = await anyio.to_thread.run_sync(reader.call, "GET", path)
                    return settled(body["items"])

                await eventually(settled_on, timeout_s=WAIT_S, every_s=0.1)
            report = await anyio.to_thread.run_sync(
                nodes.operator.call,
                "GET",
                f"/api/v1/tenants/{nodes.tenant_id}/emergencies/{started['id']}",
            )
            assert {k: report["delivery"][k] for k in ("delivered", "pending", "offline")} == {
                "delivered": 2,
                "pending": 2,
                "offline": 0,
            }
        finally:
            for ws in sockets:
                await ws.close()
