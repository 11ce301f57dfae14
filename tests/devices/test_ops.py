"""Operators' inspection: nodes, this node's actors, one actor's state."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from quart import Quart
from websockets.asyncio.client import connect

from actors.domain.principal import AuditActor
from actors.domain.rbac import Role
from tests.auth.conftest import PASSWORD, Caller, container_of, login_as
from tests.devices.conftest import Screen

pytestmark = pytest.mark.anyio


@pytest.fixture
async def operator(app: Quart, admin: Caller) -> Caller:
    await container_of(app).users.provision(
        "ops@example.test",
        PASSWORD,
        roles=(Role.PLATFORM_OPERATOR,),
        actor=AuditActor.system("tests"),
    )
    return await login_as(admin.client, "ops@example.test")


async def test_nodes_lists_this_node_with_its_sessions(operator: Caller, app: Quart) -> None:
    response = await operator.get("/api/v1/ops/nodes")
    body = await response.get_json()
    assert response.status_code == 200, body
    node = next(n for n in body["items"] if n["node_id"] == "test-node")
    assert node["alive"] is True
    assert set(node) >= {"node_id", "started_at", "sessions", "last_seen_at"}


async def test_a_connected_device_has_an_inspectable_actor(
    operator: Caller, ws_url: str, approved: Callable[..., Awaitable[Screen]]
) -> None:
    screen = await approved()
    async with connect(ws_url, additional_headers=screen.auth) as ws:
        with anyio.fail_after(5):
            assert json.loads(await ws.recv())["type"] == "welcome"
        listed = await (await operator.get("/api/v1/ops/actors?kind=device")).get_json()
        ids = [a["id"] for a in listed["items"]]
        assert screen.device_id in ids
        assert all(a["kind"] == "device" for a in listed["items"])
        entry = next(a for a in listed["items"] if a["id"] == screen.device_id)
        assert {"kind", "id", "mailbox", "restarts", "last_message_at"} <= entry.keys()
        one = await operator.get(f"/api/v1/ops/actors/device/{screen.device_id}")
        state: dict[str, Any] = (await one.get_json())["state"]
        assert state["frames_sent"] >= 1  # welcome, at least
        tenants = await (await operator.get("/api/v1/ops/actors?kind=tenant")).get_json()
        assert tenants["total"] >= 1


async def test_unknown_actor_is_404(operator: Caller) -> None:
    response = await operator.get("/api/v1/ops/actors/device/nope")
    assert response.status_code == 404


async def test_tenant_users_cannot_inspect(manager: Caller) -> None:
    for path in ("/api/v1/ops/nodes", "/api/v1/ops/actors"):
        assert (await manager.get(path)).status_code == 403


async def test_unknown_query_parameter_is_422(operator: Caller) -> None:
    assert (await operator.get("/api/v1/ops/actors?colour=red")).status_code == 422
