"""The device WebSocket over a real Hypercorn: authentication, frames, limits, close codes."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from quart import Quart
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from actors.protocol import CloseCode
from tests.auth.conftest import Caller
from tests.devices.conftest import Screen
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

Approve = Callable[..., Awaitable[Screen]]
Register = Callable[..., Awaitable[Screen]]
WAIT_S = 5.0


async def frame(ws: ClientConnection) -> dict[str, Any]:
    with anyio.fail_after(WAIT_S):
        data = await ws.recv()
    assert isinstance(data, str), "the protocol uses text frames"
    decoded: dict[str, Any] = json.loads(data)
    return decoded


async def closed_with(ws: ClientConnection) -> int:
    """Wait until the server closes; the close code it sent (unread frames are ignored)."""
    with anyio.fail_after(WAIT_S):
        await ws.wait_closed()
    code = ws.close_code
    assert code is not None
    assert code != 1006, "the server closed without a close frame"
    return code


async def opened(ws: ClientConnection) -> tuple[dict[str, Any], dict[str, Any]]:
    """The welcome and the first manifest of a fresh session."""
    welcome = await frame(ws)
    manifest = await frame(ws)
    assert welcome["type"] == "welcome"
    assert manifest["type"] == "manifest"
    return welcome, manifest


async def test_compression_is_declined(ws_url: str, approved: Approve) -> None:
    screen = await approved()
    async with connect(ws_url, additional_headers=screen.auth) as ws:
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        await opened(ws)


async def test_header_authentication_gets_welcome_then_manifest(
    ws_url: str, approved: Approve, tenant: dict[str, Any]
) -> None:
    screen = await approved()
    async with connect(ws_url, additional_headers=screen.auth) as ws:
        welcome, manifest = await opened(ws)
    assert welcome["device_id"] == screen.device_id
    assert welcome["tenant_id"] == tenant["id"]
    assert "server_time" in welcome
    assert isinstance(manifest["version"], int)
    assert manifest["slices"]


async def test_hello_frame_authentication(ws_url: str, approved: Approve) -> None:
    screen = await approved()
    async with connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "hello", "token": screen.secret, "last_seq": 0}))
        welcome, _ = await opened(ws)
    assert welcome["device_id"] == screen.device_id


async def test_no_hello_in_time_closes_4401(ws_url: str) -> None:
    async with connect(ws_url) as ws:
        assert await closed_with(ws) == CloseCode.UNAUTHORIZED


@pytest.mark.parametrize("first", ["not json", '{"type":"heartbeat"}', '{"type":"hello"}'])
async def test_first_frame_other_than_hello_closes_4401(ws_url: str, first: str) -> None:
    async with connect(ws_url) as ws:
        await ws.send(first)
        assert await closed_with(ws) == CloseCode.UNAUTHORIZED


async def test_unknown_and_pending_secrets_are_refused_4401(
    ws_url: str, register: Register
) -> None:
    pending = await register()
    for secret in ("sds_unknown", pending.secret):
        async with connect(ws_url, additional_headers={"Authorization": f"Bearer {secret}"}) as ws:
            assert await closed_with(ws) == CloseCode.UNAUTHORIZED


async def test_revoked_device_is_told_and_refused(
    ws_url: str, approved: Approve, manager: Caller, tenant: dict[str, Any]
) -> None:
    screen = await approved()
    await manager.post(f"/api/v1/tenants/{tenant['id']}/devices/{screen.device_id}/revoke")
    async with connect(ws_url, additional_headers=screen.auth) as ws:
        assert (await frame(ws))["type"] == "revoked"
        assert await closed_with(ws) == CloseCode.UNAUTHORIZED


async def test_revocation_closes_the_live_session(
    ws_url: str, approved: Approve, manager: Caller, tenant: dict[str, Any]
) -> None:
    screen = await approved()
    async with connect(ws_url, additional_headers=screen.auth) as ws:
        await opened(ws)
        await manager.post(f"/api/v1/tenants/{tenant['id']}/devices/{screen.device_id}/revoke")
        assert (await frame(ws))["type"] == "revoked"
        assert await closed_with(ws) == CloseCode.UNAUTHORIZED


async def test_secret_rotation_closes_the_session_on_the_old_secret(
    ws_url: str, approved: Approve, manager: Caller, tenant: dict[str, Any]
) -> None:
    screen = await approved()
    path = f"/api/v1/tenants/{tenant['id']}/devices/{screen.device_id}/rotate-secret"
    async with connect(ws_url, additional_headers=screen.auth) as ws:
        await opened(ws)
        await manager.post(path)
        assert await closed_with(ws) == CloseCode.UNAUTHORIZED


async def test_suspending_the_tenant_closes_sessions_and_refuses_new_ones(
    ws_url: str, approved: Approve, admin: Caller, tenant: dict[str, Any]
) -> None:
    screen = await approved()
    async with connect(ws_url, additional_headers=screen.auth) as ws:
        await opened(ws)
        await admin.post(f"/api/v1/tenants/{tenant['id']}/suspend")
        assert await closed_with(ws) == CloseCode.UNAUTHORIZED
    async with connect(ws_url, additional_headers=screen.auth) as ws:
        assert await closed_with(ws) == CloseCode.UNAUTHORIZED


async def test_a_second_session_replaces_the_first(ws_url: str, approved: Approve) -> None:
    screen = await approved()
    async with connect(ws_url, additional_headers=screen.auth) as first:
        await opened(first)
        async with connect(ws_url, additional_headers=screen.auth) as second:
            await opened(second)
            assert await closed_with(first) == CloseCode.REPLACED
            await second.send('{"type":"heartbeat"}')
            await second.ping()


async def test_oversized_frame_closes_1009(ws_url: str, approved: Approve) -> None:
    screen = await approved()
    async with connect(ws_url, additional_headers=screen.auth) as ws:
        await opened(ws)
        await ws.send(json.dumps({"type": "heartbeat", "playing": "x" * 5000}))
        assert await closed_with(ws) == CloseCode.TOO_BIG


async def test_protocol_errors_are_answered_then_repeated_ones_close_1008(
    ws_url: str, approved: Approve
) -> None:
    screen = await approved()
    async with connect(ws_url, additional_headers=screen.auth) as ws:
        await opened(ws)
        await ws.send("{not json")
        assert (await frame(ws))["type"] == "error"
        await ws.send('{"type":"reboot"}')
        assert (await frame(ws))["type"] == "error"
        await ws.send(b"\x00binary")
        assert await closed_with(ws) == CloseCode.POLICY


async def test_inbound_flood_closes_1008(ws_url: str, approved: Approve) -> None:
    screen = await approved()
    async with connect(ws_url, additional_headers=screen.auth) as ws:
        await opened(ws)
        for _ in range(100):
            try:
                await ws.send('{"type":"heartbeat"}')
            except ConnectionClosed:
                break
        assert await closed_with(ws) == CloseCode.POLICY


async def test_silent_session_is_closed_after_the_idle_timeout(
    ws_url: str, approved: Approve
) -> None:
    screen = await approved()
    async with connect(ws_url, additional_headers=screen.auth) as ws:
        await opened(ws)
        assert await closed_with(ws) == CloseCode.IDLE_TIMEOUT


async def test_heartbeats_keep_the_session_and_show_presence(
    ws_url: str, approved: Approve, manager: Caller, tenant: dict[str, Any], app: Quart
) -> None:
    screen = await approved()
    settings = app.extensions["signage.container"].settings
    async with connect(ws_url, additional_headers=screen.auth) as ws:
        await opened(ws)
        for _ in range(3):  # longer than the idle timeout in all
            await ws.send('{"type":"heartbeat","uptime_s":12.5,"cpu_temp":51}')
            await anyio.sleep(settings.websocket.idle_timeout_s / 2)
        await ws.send('{"type":"ack","manifest_version":0}')
        listed = await manager.get(f"/api/v1/tenants/{tenant['id']}/devices/{screen.device_id}")
        device = await listed.get_json()
        assert device["online"] is True
        assert device["node_id"] == settings.node_id
        assert device["last_seen_at"] is not None

    # After the session ends, presence follows.
    async def offline() -> bool:
        listed = await manager.get(f"/api/v1/tenants/{tenant['id']}/devices/{screen.device_id}")
        return (await listed.get_json())["online"] is False

    await eventually(offline, timeout_s=WAIT_S, every_s=0.05)


async def test_metrics_count_sessions_closes_and_http_answers(
    ws_url: str, approved: Approve, app: Quart
) -> None:
    screen = await approved()
    client = app.test_client()
    async with connect(ws_url, additional_headers=screen.auth) as ws:
        await opened(ws)
        live = await (await client.get("/metrics")).get_data(as_text=True)
        assert "signage_device_sessions 1.0" in live
        await ws.send("x" * 5000)
        assert await closed_with(ws) == CloseCode.TOO_BIG
    await client.get("/no/such/page")
    text = await (await client.get("/metrics")).get_data(as_text=True)
    assert 'signage_ws_closes_total{code="1009"} 1.0' in text
    assert 'signage_http_responses_total{status="404"}' in text
