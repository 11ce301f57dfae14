"""Devices over HTTP: registration, the self check, claim (approval), administration."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
from quart import Quart

from actors.domain.pairing import ALPHABET
from actors.domain.rbac import Role
from tests.auth.conftest import Caller
from tests.devices.conftest import Screen

pytestmark = pytest.mark.anyio

Register = Callable[..., Awaitable[Screen]]
Approve = Callable[..., Awaitable[Screen]]


async def _self(app: Quart, secret: str | None) -> tuple[int, Any]:
    headers = {} if secret is None else {"Authorization": f"Bearer {secret}"}
    response = await app.test_client().get("/api/v1/devices/self", headers=headers)
    return response.status_code, await response.get_json()


async def test_registration_returns_a_secret_a_readable_code_and_its_expiry(
    app: Quart, register: Register
) -> None:
    screen = await register()
    assert screen.secret.startswith("sds_")
    assert len(screen.pairing_code) == 8
    assert set(screen.pairing_code) <= set(ALPHABET)
    assert await _self(app, screen.secret) == (
        200,
        {"device_id": screen.device_id, "status": "pending", "tenant_id": None},
    )


async def test_secret_is_stored_only_as_a_hash(register: Register, database_url: str) -> None:
    screen = await register()
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT secret_hash FROM devices WHERE id = %s", (screen.device_id,)
        ).fetchone()
    assert row is not None
    assert screen.secret.encode() not in bytes(row[0])
    assert len(bytes(row[0])) == 32


@pytest.mark.parametrize(
    "body",
    [{}, {"hardware_id": ""}, {"hardware_id": "x", "admin": True}, {"hardware_id": "a b"}],
)
async def test_bad_registration_is_422_naming_the_field(app: Quart, body: dict[str, Any]) -> None:
    response = await app.test_client().post("/api/v1/devices/register", json=body)
    problem = await response.get_json()
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert problem["detail"]


async def test_self_without_or_with_unknown_secret_is_401(app: Quart) -> None:
    assert (await _self(app, None))[0] == 401
    assert (await _self(app, "sds_" + "A" * 43))[0] == 401


async def test_claim_approves_the_device_into_the_tenant(
    app: Quart, register: Register, manager: Caller, tenant: dict[str, Any]
) -> None:
    screen = await register()
    code = screen.pairing_code
    response = await manager.post(
        f"/api/v1/tenants/{tenant['id']}/devices/claim",
        {
            "pairing_code": f"{code[:4]}-{code[4:]}".lower(),
            "name": "Lobby",
            "groups": ["floor-1", "lobby", "lobby"],
            "timezone": "Europe/Berlin",
        },
    )
    device = await response.get_json()
    assert response.status_code == 200, device
    assert device["id"] == screen.device_id
    assert device["status"] == "approved"
    assert device["groups"] == ["floor-1", "lobby"]
    assert device["timezone"] == "Europe/Berlin"
    assert device["online"] is False
    assert await _self(app, screen.secret) == (
        200,
        {"device_id": screen.device_id, "status": "approved", "tenant_id": tenant["id"]},
    )


async def test_a_pairing_code_is_single_use(
    register: Register, manager: Caller, tenant: dict[str, Any]
) -> None:
    screen = await register()
    path = f"/api/v1/tenants/{tenant['id']}/devices/claim"
    first = await manager.post(path, {"pairing_code": screen.pairing_code, "name": "A"})
    second = await manager.post(path, {"pairing_code": screen.pairing_code, "name": "B"})
    assert first.status_code == 200
    assert second.status_code == 404


async def test_unknown_code_is_404_and_malformed_code_too(
    manager: Caller, tenant: dict[str, Any]
) -> None:
    path = f"/api/v1/tenants/{tenant['id']}/devices/claim"
    assert (await manager.post(path, {"pairing_code": "BCDFGHJK", "name": "A"})).status_code == 404
    assert (await manager.post(path, {"pairing_code": "AAAA-0000", "name": "A"})).status_code == 404


async def test_expired_code_cannot_be_claimed(
    register: Register, manager: Caller, tenant: dict[str, Any], database_url: str
) -> None:
    screen = await register()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE devices SET pairing_expires_at = now() - interval '1 second' WHERE id = %s",
            (screen.device_id,),
        )
    response = await manager.post(
        f"/api/v1/tenants/{tenant['id']}/devices/claim",
        {"pairing_code": screen.pairing_code, "name": "A"},
    )
    assert response.status_code == 404


async def test_claim_needs_device_manager_and_the_callers_tenant(
    register: Register,
    tenant: dict[str, Any],
    new_tenant: Callable[..., Awaitable[dict[str, Any]]],
    new_user: Callable[..., Awaitable[Caller]],
) -> None:
    screen = await register()
    viewer = await new_user(tenant["id"], Role.VIEWER)
    other = await new_tenant()
    stranger = await new_user(other["id"], Role.DEVICE_MANAGER)
    body = {"pairing_code": screen.pairing_code, "name": "A"}
    path = f"/api/v1/tenants/{tenant['id']}/devices/claim"
    assert (await viewer.post(path, body)).status_code == 403
    assert (await stranger.post(path, body)).status_code == 404


async def test_claim_into_a_suspended_tenant_is_409(
    register: Register, manager: Caller, tenant: dict[str, Any], admin: Caller
) -> None:
    screen = await register()
    assert (await admin.post(f"/api/v1/tenants/{tenant['id']}/suspend")).status_code == 200
    response = await admin.post(
        f"/api/v1/tenants/{tenant['id']}/devices/claim",
        {"pairing_code": screen.pairing_code, "name": "A"},
    )
    assert response.status_code == 409


async def test_claim_with_unknown_timezone_is_422(
    register: Register, manager: Caller, tenant: dict[str, Any]
) -> None:
    screen = await register()
    response = await manager.post(
        f"/api/v1/tenants/{tenant['id']}/devices/claim",
        {"pairing_code": screen.pairing_code, "name": "A", "timezone": "Mars/Olympus"},
    )
    assert response.status_code == 422
    assert (await response.get_json())["field"] == "timezone"


async def test_list_get_and_update_devices(
    approved: Approve, manager: Caller, tenant: dict[str, Any], new_user: Callable[..., Any]
) -> None:
    screen = await approved("Lobby", groups=("lobby",))
    viewer = await new_user(tenant["id"], Role.VIEWER)
    base = f"/api/v1/tenants/{tenant['id']}/devices"
    listed = await (await viewer.get(base)).get_json()
    assert [d["id"] for d in listed["items"]] == [screen.device_id]
    assert set(listed["items"][0]) >= {
        "id",
        "name",
        "status",
        "groups",
        "timezone",
        "online",
        "last_seen_at",
    }
    patched = await manager.patch(
        f"{base}/{screen.device_id}", {"name": "Atrium", "groups": ["atrium"]}
    )
    assert patched.status_code == 200
    one = await (await viewer.get(f"{base}/{screen.device_id}")).get_json()
    assert (one["name"], one["groups"]) == ("Atrium", ["atrium"])
    assert (await viewer.patch(f"{base}/{screen.device_id}", {"name": "X"})).status_code == 403
    bad = await manager.patch(f"{base}/{screen.device_id}", {"colour": "red"})
    assert bad.status_code == 422


async def test_another_tenants_device_is_404(
    approved: Approve,
    tenant: dict[str, Any],
    new_tenant: Callable[..., Awaitable[dict[str, Any]]],
    new_user: Callable[..., Awaitable[Caller]],
) -> None:
    screen = await approved()
    other = await new_tenant()
    stranger = await new_user(other["id"], Role.TENANT_ADMIN)
    # Both paths: the victim tenant's URL, and the stranger's own tenant with the id.
    victim = f"/api/v1/tenants/{tenant['id']}/devices/{screen.device_id}"
    own = f"/api/v1/tenants/{other['id']}/devices/{screen.device_id}"
    assert (await stranger.get(victim)).status_code == 404
    assert (await stranger.get(own)).status_code == 404
    assert (await stranger.post(own + "/revoke")).status_code == 404


async def test_revoke_refuses_the_secret_and_is_idempotent(
    app: Quart, approved: Approve, manager: Caller, tenant: dict[str, Any]
) -> None:
    screen = await approved()
    path = f"/api/v1/tenants/{tenant['id']}/devices/{screen.device_id}/revoke"
    first = await manager.post(path)
    again = await manager.post(path)
    assert (await first.get_json())["status"] == "revoked"
    assert again.status_code == 200
    assert (await _self(app, screen.secret))[1]["status"] == "revoked"
    patched = await manager.patch(
        f"/api/v1/tenants/{tenant['id']}/devices/{screen.device_id}", {"name": "X"}
    )
    assert patched.status_code == 409


async def test_rotating_the_secret_retires_the_old_one(
    app: Quart, approved: Approve, manager: Caller, tenant: dict[str, Any]
) -> None:
    screen = await approved()
    response = await manager.post(
        f"/api/v1/tenants/{tenant['id']}/devices/{screen.device_id}/rotate-secret"
    )
    body = await response.get_json()
    assert response.status_code == 200
    assert (await _self(app, screen.secret))[0] == 401
    assert (await _self(app, body["device_secret"]))[1]["status"] == "approved"


async def test_claim_revoke_and_update_are_audited_in_the_tenant_chain(
    approved: Approve, manager: Caller, tenant: dict[str, Any], database_url: str
) -> None:
    screen = await approved()
    base = f"/api/v1/tenants/{tenant['id']}/devices/{screen.device_id}"
    await manager.patch(base, {"groups": ["g"]})
    await manager.post(base + "/revoke")
    with psycopg.connect(database_url) as conn:
        actions = [
            r[0]
            for r in conn.execute(
                "SELECT action FROM audit_log WHERE tenant_id = %s AND target = %s ORDER BY seq",
                (tenant["id"], f"device:{screen.device_id}"),
            )
        ]
    assert actions == ["device.claim", "device.update", "device.revoke"]


async def test_registration_flood_from_one_address_is_throttled_with_retry_after(
    app: Quart,
) -> None:
    client = app.test_client()
    burst = app.extensions["signage.container"].settings.registration.burst
    statuses = []
    for i in range(burst + 1):
        response = await client.post(
            "/api/v1/devices/register",
            json={"hardware_id": f"flood-{i}"},
            scope_base={"client": ("192.0.2.99", 1)},
        )
        statuses.append(response.status_code)
    assert statuses[:burst] == [201] * burst
    assert statuses[-1] == 429
    assert int(response.headers["Retry-After"]) >= 1
    # Another address is not affected.
    other = await client.post(
        "/api/v1/devices/register",
        json={"hardware_id": "elsewhere"},
        scope_base={"client": ("192.0.2.100", 1)},
    )
    assert other.status_code == 201
