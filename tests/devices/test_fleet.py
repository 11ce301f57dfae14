"""Fleet health and remote commands over a real Hypercorn and real WebSockets: status in
heartbeats, the device list's filters, delete, bulk revoke, commands and their answers,
with RBAC, cross-tenant 404 and bounds (docs/devices.md, "Status" and "Commands")."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import uuid4

import anyio
import psycopg
import pytest
from websockets.asyncio.client import ClientConnection, connect

from actors.domain.fleet import COMMANDS_KEPT, MAX_BULK_REVOKE, MAX_OPEN_COMMANDS
from actors.domain.rbac import Role
from actors.protocol import CloseCode
from actors.settings import Settings
from tests.auth.conftest import FAST_HASHING, Caller, peer
from tests.conftest import make_settings
from tests.devices.conftest import DEVICE_TIMERS, Screen
from tests.devices.test_device_socket import closed_with, frame, opened
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

Approve = Callable[..., Awaitable[Screen]]
WAIT_S = 5.0
STATUS = {
    "type": "heartbeat",
    "app_version": "2.4.1",
    "uptime_s": 3600.5,
    "display_on": True,
    "free_storage_bytes": 12_000_000_000,
    "last_error": "decoder: unsupported profile",
    "playing": "content:welcome-loop",
    "manifest_version": 3,
}


@pytest.fixture
def settings(db_clean: str) -> Settings:
    return make_settings(
        db_clean,
        **FAST_HASHING,
        **DEVICE_TIMERS,
        fleet_status_flush_s=0.05,
        fleet_answer_flush_s=0.05,
    )


@pytest.fixture
async def viewer(tenant: dict[str, Any], new_user: Callable[..., Awaitable[Caller]]) -> Caller:
    return await new_user(tenant["id"], Role.VIEWER)


@pytest.fixture
async def tenant_admin(
    tenant: dict[str, Any], new_user: Callable[..., Awaitable[Caller]]
) -> Caller:
    return await new_user(tenant["id"], Role.TENANT_ADMIN)


@pytest.fixture
async def stranger(
    new_tenant: Callable[..., Awaitable[dict[str, Any]]],
    new_user: Callable[..., Awaitable[Caller]],
) -> Caller:
    """A device manager of another tenant."""
    other = await new_tenant()
    return await new_user(other["id"], Role.DEVICE_MANAGER)


@pytest.fixture
async def session(ws_url: str, approved: Approve) -> AsyncIterator[tuple[Screen, ClientConnection]]:
    """An approved screen with an open session, past its opening frames."""
    screen = await approved()
    async with connect(ws_url, additional_headers=screen.auth) as ws:
        await opened(ws)
        yield screen, ws


async def delete(caller: Caller, path: str) -> Any:
    return await caller.client.delete(path, headers=caller.headers, scope_base=peer(caller.ip))


async def device(caller: Caller, tenant: dict[str, Any], device_id: str) -> dict[str, Any]:
    response = await caller.get(f"/api/v1/tenants/{tenant['id']}/devices/{device_id}")
    assert response.status_code == 200
    found: dict[str, Any] = await response.get_json()
    return found


async def listed(caller: Caller, tenant: dict[str, Any], query: str = "") -> list[str]:
    response = await caller.get(f"/api/v1/tenants/{tenant['id']}/devices{query}")
    body = await response.get_json()
    assert response.status_code == 200, body
    return [item["name"] for item in body["items"]]


async def next_of(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next frame of type ``kind`` (informational frames before it are skipped)."""
    with anyio.fail_after(WAIT_S):
        while (found := await frame(ws))["type"] != kind:
            pass
    return found


# -- status -------------------------------------------------------------------------------


async def test_heartbeat_status_is_shown_with_presence(
    session: tuple[Screen, ClientConnection], viewer: Caller, tenant: dict[str, Any]
) -> None:
    screen, ws = session
    await ws.send(json.dumps(STATUS))

    async def reported() -> bool:
        return (await device(viewer, tenant, screen.device_id))["health"] is not None

    await eventually(reported, timeout_s=WAIT_S, every_s=0.02)
    view = await device(viewer, tenant, screen.device_id)
    health = view["health"]
    assert {k: health[k] for k in STATUS if k != "type"} == {
        k: v for k, v in STATUS.items() if k != "type"
    }
    assert health["node_id"] == view["node_id"]
    assert view["online"] is True
    assert view["app_version"] == "2.4.1"  # the reported one, not the registered one
    assert view["last_seen_at"] is not None


async def test_a_bare_heartbeat_keeps_the_status_and_a_new_status_replaces_it_whole(
    session: tuple[Screen, ClientConnection], viewer: Caller, tenant: dict[str, Any]
) -> None:
    screen, ws = session
    await ws.send(json.dumps(STATUS))
    await eventually(
        lambda: _health_is(viewer, tenant, screen, lambda h: h is not None and h["uptime_s"]),
        timeout_s=WAIT_S,
        every_s=0.02,
    )
    await ws.send(json.dumps({"type": "heartbeat"}))
    await ws.send(json.dumps({"type": "heartbeat", "display_on": False}))
    await eventually(
        lambda: _health_is(viewer, tenant, screen, lambda h: h["display_on"] is False),
        timeout_s=WAIT_S,
        every_s=0.02,
    )
    health = (await device(viewer, tenant, screen.device_id))["health"]
    assert health["app_version"] is None
    assert health["uptime_s"] is None


async def _health_is(
    caller: Caller, tenant: dict[str, Any], screen: Screen, test: Callable[[Any], object]
) -> bool:
    return bool(test((await device(caller, tenant, screen.device_id))["health"]))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("app_version", "9" * 65),
        ("app_version", "2.0\n"),
        ("uptime_s", -1),
        ("uptime_s", 1e12),
        ("display_on", "yes"),
        ("free_storage_bytes", -5),
        ("free_storage_bytes", 2**63),
        ("last_error", "x" * 501),
        ("playing", "p" * 201),
        ("manifest_version", "3"),
    ],
)
async def test_an_invalid_status_is_a_protocol_error_naming_the_field(
    session: tuple[Screen, ClientConnection], field: str, value: object
) -> None:
    _, ws = session
    await ws.send(json.dumps({"type": "heartbeat", field: value}))
    error = await next_of(ws, "error")
    assert field in error["detail"]


async def test_repeated_invalid_statuses_close_1008_and_store_nothing(
    session: tuple[Screen, ClientConnection], viewer: Caller, tenant: dict[str, Any]
) -> None:
    screen, ws = session
    for _ in range(3):
        await ws.send(json.dumps({"type": "heartbeat", "app_version": "v" * 100}))
    assert await closed_with(ws) == CloseCode.POLICY
    assert (await device(viewer, tenant, screen.device_id))["health"] is None


async def test_unknown_status_fields_are_ignored(
    session: tuple[Screen, ClientConnection], viewer: Caller, tenant: dict[str, Any]
) -> None:
    screen, ws = session
    await ws.send(json.dumps({"type": "heartbeat", "cpu_temp_c": 61, "display_on": True}))
    await eventually(
        lambda: _health_is(viewer, tenant, screen, lambda h: h and h["display_on"]),
        timeout_s=WAIT_S,
        every_s=0.02,
    )


# -- the list's filters ---------------------------------------------------------------------


async def test_the_list_filters_by_group_version_and_offline_time(
    ws_url: str,
    approved: Approve,
    viewer: Caller,
    tenant: dict[str, Any],
    db_clean: str,
) -> None:
    old = await approved("Old", groups=("lobby",))
    new = await approved("New", groups=("lobby", "hall"))
    await approved("Never", groups=("hall",))  # never connected: no version, never seen
    stale = await approved("Stale")
    with psycopg.connect(db_clean, autocommit=True) as conn:
        conn.execute(
            "UPDATE devices SET last_seen_at = now() - interval '2 hours' WHERE id = %s",
            (stale.device_id,),
        )
    base = "?limit=50"
    async with (
        connect(ws_url, additional_headers=old.auth) as a,
        connect(ws_url, additional_headers=new.auth) as b,
    ):
        await opened(a)
        await opened(b)
        await a.send(json.dumps({"type": "heartbeat", "app_version": "1.9.3"}))
        await b.send(json.dumps({"type": "heartbeat", "app_version": "v1.10"}))

        async def both_reported() -> bool:
            views = [await device(viewer, tenant, s.device_id) for s in (old, new)]
            return all(v["health"] is not None for v in views)

        await eventually(both_reported, timeout_s=WAIT_S, every_s=0.02)
        assert await listed(viewer, tenant, base + "&group=lobby") == ["New", "Old"]
        assert await listed(viewer, tenant, base + "&group=hall") == ["Never", "New"]
        # 1.9.3 < 1.10; a device without a comparable version counts as outdated.
        assert await listed(viewer, tenant, base + "&app_version_below=1.10") == [
            "Never",
            "Old",
            "Stale",
        ]
        assert await listed(viewer, tenant, base + "&app_version_below=1.10.0&group=lobby") == [
            "Old"
        ]
        assert await listed(viewer, tenant, base + "&app_version_below=1.9") == [
            "Never",
            "Stale",
        ]
        # Offline for over an hour: never seen, or last seen two hours ago; never online.
        assert await listed(viewer, tenant, base + "&offline_for_min=60") == ["Never", "Stale"]
        assert await listed(viewer, tenant, base + "&offline_for_min=180") == ["Never"]


@pytest.mark.parametrize(
    "query",
    [
        "?offline_for_min=0",
        "?offline_for_min=525601",
        "?offline_for_min=soon",
        "?app_version_below=latest",
        "?app_version_below=1..2",
        "?group=bad%20group",
        "?colour=red",
    ],
)
async def test_bad_filters_are_422(viewer: Caller, tenant: dict[str, Any], query: str) -> None:
    response = await viewer.get(f"/api/v1/tenants/{tenant['id']}/devices{query}")
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"


# -- delete ---------------------------------------------------------------------------------


async def test_deleting_closes_the_live_session_with_4401_and_is_audited(
    session: tuple[Screen, ClientConnection],
    manager: Caller,
    tenant_admin: Caller,
    tenant: dict[str, Any],
    ws_url: str,
) -> None:
    screen, ws = session
    path = f"/api/v1/tenants/{tenant['id']}/devices/{screen.device_id}"
    assert (await delete(manager, path)).status_code == 204
    assert (await next_of(ws, "revoked"))["type"] == "revoked"
    assert await closed_with(ws) == CloseCode.UNAUTHORIZED
    assert (await manager.get(path)).status_code == 404
    assert (await delete(manager, path)).status_code == 404
    async with connect(ws_url, additional_headers=screen.auth) as again:
        assert await closed_with(again) == CloseCode.UNAUTHORIZED
    audit = await tenant_admin.get(f"/api/v1/tenants/{tenant['id']}/audit?action=device.delete")
    entries = (await audit.get_json())["items"]
    assert [e["target"] for e in entries] == [f"device:{screen.device_id}"]


async def test_a_device_with_acks_commands_and_status_can_be_deleted(
    session: tuple[Screen, ClientConnection],
    manager: Caller,
    new_user: Callable[..., Awaitable[Caller]],
    tenant: dict[str, Any],
    db_clean: str,
) -> None:
    screen, ws = session
    operator = await new_user(tenant["id"], Role.EMERGENCY_OPERATOR)
    triggered = await operator.post(
        f"/api/v1/tenants/{tenant['id']}/emergencies",
        {"message": "Evacuate", "severity": "critical", "target": {"all": True}},
    )
    emergency = await triggered.get_json()
    await next_of(ws, "emergency")
    await ws.send(json.dumps({"type": "ack", "emergency_id": emergency["id"]}))
    await ws.send(json.dumps(STATUS))
    path = f"/api/v1/tenants/{tenant['id']}/devices/{screen.device_id}"
    sent = await manager.post(path + "/commands", {"name": "identify"})
    assert sent.status_code == 202

    def stored() -> int:
        with psycopg.connect(db_clean, autocommit=True) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM emergency_acks WHERE device_id = %(d)s)"
                " + (SELECT count(*) FROM device_health WHERE device_id = %(d)s)"
                " + (SELECT count(*) FROM device_commands WHERE device_id = %(d)s)",
                {"d": screen.device_id},
            ).fetchone()
        assert row is not None
        return int(row[0])

    await eventually(lambda: stored() >= 3, timeout_s=WAIT_S, every_s=0.02)
    assert (await delete(manager, path)).status_code == 204
    assert stored() == 0


async def test_delete_needs_device_manager_and_is_404_across_tenants(
    approved: Approve, viewer: Caller, stranger: Caller, tenant: dict[str, Any]
) -> None:
    screen = await approved()
    path = f"/api/v1/tenants/{tenant['id']}/devices/{screen.device_id}"
    assert (await delete(viewer, path)).status_code == 403
    assert (await delete(stranger, path)).status_code == 404
    assert (await viewer.get(path)).status_code == 200


# -- bulk revoke -------------------------------------------------------------------------


async def test_bulk_revoke_answers_per_device_and_closes_live_sessions(
    session: tuple[Screen, ClientConnection],
    approved: Approve,
    manager: Caller,
    tenant_admin: Caller,
    stranger: Caller,
    tenant: dict[str, Any],
) -> None:
    live, ws = session
    idle = await approved("Idle")
    done = await approved("Done")
    base = f"/api/v1/tenants/{tenant['id']}/devices"
    await manager.post(f"{base}/{done.device_id}/revoke")
    unknown = str(uuid4())
    response = await manager.post(
        base + "/revoke",
        {"device_ids": [live.device_id, idle.device_id, done.device_id, unknown, idle.device_id]},
    )
    body = await response.get_json()
    assert response.status_code == 200, body
    assert body["items"] == [
        {"device_id": live.device_id, "result": "revoked"},
        {"device_id": idle.device_id, "result": "revoked"},
        {"device_id": done.device_id, "result": "already_revoked"},
        {"device_id": unknown, "result": "not_found"},
    ]
    assert (await next_of(ws, "revoked"))["type"] == "revoked"
    assert await closed_with(ws) == CloseCode.UNAUTHORIZED
    for screen in (live, idle):
        view = await (await manager.get(f"{base}/{screen.device_id}")).get_json()
        assert view["status"] == "revoked"
    audit = await tenant_admin.get(f"/api/v1/tenants/{tenant['id']}/audit?action=device.revoke")
    targets = sorted(e["target"] for e in (await audit.get_json())["items"])
    assert targets == sorted(
        f"device:{d}" for d in (live.device_id, idle.device_id, done.device_id)
    )
    # Another tenant's manager learns nothing and changes nothing.
    foreign = await stranger.post(
        f"/api/v1/tenants/{stranger.tenant_id}/devices/revoke", {"device_ids": [idle.device_id]}
    )
    assert (await foreign.get_json())["items"] == [
        {"device_id": idle.device_id, "result": "not_found"}
    ]


async def test_bulk_revoke_bounds_and_roles(
    viewer: Caller, manager: Caller, stranger: Caller, tenant: dict[str, Any]
) -> None:
    path = f"/api/v1/tenants/{tenant['id']}/devices/revoke"
    assert (await manager.post(path, {"device_ids": []})).status_code == 422
    too_many = [str(uuid4()) for _ in range(MAX_BULK_REVOKE + 1)]
    assert (await manager.post(path, {"device_ids": too_many})).status_code == 422
    assert (await manager.post(path, {"device_ids": ["nope"]})).status_code == 422
    assert (await manager.post(path, {"device_ids": [], "all": True})).status_code == 422
    assert (await viewer.post(path, {"device_ids": [str(uuid4())]})).status_code == 403
    assert (await stranger.post(path, {"device_ids": [str(uuid4())]})).status_code == 404


# -- commands -------------------------------------------------------------------------------


async def test_a_command_reaches_the_screen_and_its_answer_is_shown(
    session: tuple[Screen, ClientConnection],
    manager: Caller,
    viewer: Caller,
    tenant_admin: Caller,
    tenant: dict[str, Any],
) -> None:
    screen, ws = session
    path = f"/api/v1/tenants/{tenant['id']}/devices/{screen.device_id}/commands"
    response = await manager.post(path, {"name": "reload"})
    sent = await response.get_json()
    assert response.status_code == 202, sent
    assert sent["state"] == "sent"
    assert sent["name"] == "reload"
    assert await next_of(ws, "command") == {"type": "command", "id": sent["id"], "name": "reload"}
    await ws.send(
        json.dumps({"type": "command_result", "id": sent["id"], "result": "ok", "detail": "done"})
    )

    async def answered() -> bool:
        items = (await (await viewer.get(path)).get_json())["items"]
        return bool(items[0]["state"] == "ok")

    await eventually(answered, timeout_s=WAIT_S, every_s=0.02)
    [item] = (await (await viewer.get(path)).get_json())["items"]
    assert item["detail"] == "done"
    assert item["answered_at"] is not None
    assert item["issued_by"] == f"user:{manager.user_id}"
    audit = await tenant_admin.get(f"/api/v1/tenants/{tenant['id']}/audit?action=device.command")
    [entry] = (await audit.get_json())["items"]
    assert entry["target"] == f"device:{screen.device_id}"
    assert entry["details"]["command_id"] == sent["id"]
    assert entry["details"]["name"] == "reload"


async def test_a_screen_cannot_answer_another_screens_command(
    ws_url: str, approved: Approve, manager: Caller, tenant: dict[str, Any]
) -> None:
    target = await approved("Target")
    other = await approved("Other")
    base = f"/api/v1/tenants/{tenant['id']}/devices"
    async with (
        connect(ws_url, additional_headers=target.auth) as a,
        connect(ws_url, additional_headers=other.auth) as b,
    ):
        await opened(a)
        await opened(b)
        sent = await (
            await manager.post(f"{base}/{target.device_id}/commands", {"name": "reboot"})
        ).get_json()
        await next_of(a, "command")
        await b.send(json.dumps({"type": "command_result", "id": sent["id"], "result": "failed"}))
        # The real answer comes after the forged one and is the one kept.
        await a.send(json.dumps({"type": "command_result", "id": sent["id"], "result": "ok"}))

        async def state() -> str:
            items = (await (await manager.get(f"{base}/{target.device_id}/commands")).get_json())[
                "items"
            ]
            return str(items[0]["state"])

        await eventually(lambda: _is(state(), "ok"), timeout_s=WAIT_S, every_s=0.02)


async def _is(value: Awaitable[str], expected: str) -> bool:
    return await value == expected


async def test_a_command_to_an_offline_screen_is_refused(
    approved: Approve, manager: Caller, tenant: dict[str, Any]
) -> None:
    screen = await approved()
    path = f"/api/v1/tenants/{tenant['id']}/devices/{screen.device_id}/commands"
    response = await manager.post(path, {"name": "identify"})
    assert response.status_code == 409
    assert "offline" in (await response.get_json())["detail"]
    assert (await (await manager.get(path)).get_json())["items"] == []


async def test_an_unanswered_command_expires_and_a_late_answer_is_ignored(
    session: tuple[Screen, ClientConnection],
    manager: Caller,
    tenant: dict[str, Any],
    db_clean: str,
) -> None:
    screen, ws = session
    path = f"/api/v1/tenants/{tenant['id']}/devices/{screen.device_id}/commands"
    sent = await (await manager.post(path, {"name": "clear_cache", "ttl_s": 5})).get_json()
    assert sent["state"] == "sent"
    await next_of(ws, "command")
    with psycopg.connect(db_clean, autocommit=True) as conn:
        conn.execute(
            "UPDATE device_commands SET issued_at = issued_at - interval '1 minute',"
            " expires_at = now() - interval '1 second' WHERE id = %s",
            (sent["id"],),
        )
    await ws.send(json.dumps({"type": "command_result", "id": sent["id"], "result": "ok"}))
    # A later command's answer shows the late one was processed (and ignored) before it.
    second = await (await manager.post(path, {"name": "identify"})).get_json()
    await next_of(ws, "command")
    await ws.send(json.dumps({"type": "command_result", "id": second["id"], "result": "ok"}))

    async def second_answered() -> bool:
        items = (await (await manager.get(path)).get_json())["items"]
        return bool(items[0]["state"] == "ok")

    await eventually(second_answered, timeout_s=WAIT_S, every_s=0.02)
    items = (await (await manager.get(path)).get_json())["items"]
    assert [i["state"] for i in items] == ["ok", "expired"]


async def test_command_bounds_roles_and_tenants(
    session: tuple[Screen, ClientConnection],
    manager: Caller,
    viewer: Caller,
    stranger: Caller,
    tenant: dict[str, Any],
) -> None:
    screen, _ws = session
    path = f"/api/v1/tenants/{tenant['id']}/devices/{screen.device_id}/commands"
    for body in (
        {"name": "selfdestruct"},
        {"name": "reload", "ttl_s": 1},
        {},
        {"name": "reload", "x": 1},
    ):
        assert (await manager.post(path, body)).status_code == 422, body
    assert (await viewer.post(path, {"name": "reload"})).status_code == 403
    assert (await viewer.get(path)).status_code == 200
    assert (await stranger.post(path, {"name": "reload"})).status_code == 404
    assert (await stranger.get(path)).status_code == 404
    missing = f"/api/v1/tenants/{tenant['id']}/devices/{uuid4()}/commands"
    assert (await manager.post(missing, {"name": "reload"})).status_code == 404
    assert (await manager.get(missing)).status_code == 404
    for _ in range(MAX_OPEN_COMMANDS):
        assert (await manager.post(path, {"name": "identify"})).status_code == 202
    refused = await manager.post(path, {"name": "identify"})
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers


@pytest.mark.parametrize(
    "answer",
    [
        {"type": "command_result", "id": "not-a-uuid", "result": "ok"},
        {"type": "command_result", "id": "00000000-0000-0000-0000-000000000000", "result": "done"},
        {
            "type": "command_result",
            "id": "00000000-0000-0000-0000-000000000000",
            "result": "ok",
            "detail": "d" * 201,
        },
        {
            "type": "command_result",
            "id": "00000000-0000-0000-0000-000000000000",
            "result": "ok",
            "extra": 1,
        },
    ],
)
async def test_a_malformed_command_result_is_a_protocol_error(
    session: tuple[Screen, ClientConnection], answer: dict[str, Any]
) -> None:
    _, ws = session
    await ws.send(json.dumps(answer))
    assert (await next_of(ws, "error"))["type"] == "error"


async def test_commands_are_kept_per_device_up_to_a_bound(
    session: tuple[Screen, ClientConnection],
    manager: Caller,
    tenant: dict[str, Any],
    db_clean: str,
) -> None:
    screen, _ws = session
    path = f"/api/v1/tenants/{tenant['id']}/devices/{screen.device_id}/commands"
    with psycopg.connect(db_clean, autocommit=True) as conn:
        tenant_id = tenant["id"]
        for n in range(COMMANDS_KEPT + 5):
            conn.execute(
                "INSERT INTO device_commands (id, tenant_id, device_id, name, state, detail,"
                " issued_by, issued_at, expires_at, answered_at, answered_node)"
                " VALUES (%s, %s, %s, 'identify', 'ok', NULL, 'test',"
                " now() - make_interval(mins => %s), now(), now(), 'node')",
                (uuid4(), tenant_id, screen.device_id, 100 + n),
            )
    assert (await manager.post(path, {"name": "reload"})).status_code == 202
    items = (await (await manager.get(path)).get_json())["items"]
    assert len(items) == COMMANDS_KEPT
    assert items[0]["name"] == "reload"
