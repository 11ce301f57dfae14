"""Limits on what screens and device managers can do (issue 14, L4-L6 and info items):
IPv6 sources are counted per /64 everywhere, each source keeps a reserve of pending
registrations a flood cannot take, only *failed* claims count (per tenant, on every node,
audited at a bounded rate), and a screen of a suspended tenant learns that it is."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
from quart import Quart
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from actors.domain.rbac import Role
from actors.settings import Settings
from edge.app import create_app
from tests.auth.conftest import Caller, peer
from tests.devices.conftest import Screen
from tests.devices.test_device_socket import opened

pytestmark = pytest.mark.anyio

Register = Callable[..., Awaitable[Screen]]
#: Failed claims a tenant may make before its claims are blocked for a while (here).
FREE_FAILURES = 3
#: Registrations: the shared cap, each source's reserve within it, and the reserve pool.
SHARED_CAP = 5
RESERVED = 2
RESERVE_POOL = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.updated(
        claim_max_failures=FREE_FAILURES,
        claim_block_base_s=30,
        registration_max_pending=SHARED_CAP,
        registration_max_pending_per_source=100,
        registration_reserved_per_source=RESERVED,
        registration_reserve_total=RESERVE_POOL,
        device_poll_burst=3,
        device_poll_per_s=0.01,
        ws_connect_burst=2,
        ws_connect_per_s=0.01,
        trusted_proxy_hops=1,
    )


async def registered(app: Quart, ip: str, n: int) -> int:
    response = await app.test_client().post(
        "/api/v1/devices/register", json={"hardware_id": f"hw-{ip}-{n}"}, scope_base=peer(ip)
    )
    return response.status_code


def claim_path(tenant: dict[str, Any]) -> str:
    return f"/api/v1/tenants/{tenant['id']}/devices/claim"


async def claim(caller: Caller, tenant: dict[str, Any], code: str, name: str = "S") -> Any:
    return await caller.post(claim_path(tenant), {"pairing_code": code, "name": name})


# -- sources: IPv6 per /64 ------------------------------------------------------------------


async def test_registrations_from_one_ipv6_64_share_one_budget(app: Quart) -> None:
    burst = app.extensions["signage.container"].settings.registration.burst
    statuses = [await registered(app, f"2001:db8:1:2::{i:x}", i) for i in range(burst + 1)]
    # The shared cap is small here; what matters is that the /64 is one source.
    assert statuses.count(201) <= SHARED_CAP + RESERVED
    assert statuses[-1] == 429
    assert await registered(app, "2001:db8:1:3::1", 0) == 201  # the next /64 is another


async def test_self_checks_from_one_ipv6_64_share_one_budget(
    app: Quart, register: Register
) -> None:
    screen = await register(ip="198.51.100.50")
    client = app.test_client()
    statuses = []
    for i in range(4):
        response = await client.get(
            "/api/v1/devices/self", headers=screen.auth, scope_base=peer(f"2001:db8:9:9::{i + 1}")
        )
        statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 429]
    other = await client.get(
        "/api/v1/devices/self", headers=screen.auth, scope_base=peer("2001:db8:9:a::1")
    )
    assert other.status_code == 200


async def test_websocket_upgrades_from_one_ipv6_64_share_one_budget(
    ws_url: str, approved: Callable[..., Awaitable[Screen]]
) -> None:
    screen = await approved()
    for i in range(2):
        headers = {**screen.auth, "X-Forwarded-For": f"2001:db8:5:5::{i + 1}"}
        async with connect(ws_url, additional_headers=headers) as ws:
            await opened(ws)
    headers = {**screen.auth, "X-Forwarded-For": "2001:db8:5:5::99"}
    with pytest.raises(InvalidStatus) as refused:
        await connect(ws_url, additional_headers=headers)
    assert refused.value.response.status_code == 429
    headers = {**screen.auth, "X-Forwarded-For": "2001:db8:5:6::1"}
    async with connect(ws_url, additional_headers=headers) as ws:
        await opened(ws)


# -- the pending-registration cap -------------------------------------------------------------


async def test_a_flood_cannot_fill_the_cap_for_every_other_source(app: Quart) -> None:
    flood = [await registered(app, "192.0.2.66", i) for i in range(SHARED_CAP + 1)]
    assert flood == [201] * SHARED_CAP + [429]
    # Another site still registers its first screens, from the reserve...
    assert [await registered(app, "198.51.100.1", i) for i in range(RESERVED + 1)] == [
        201,
        201,
        429,
    ]
    # ...which is bounded too: storage stays bounded whatever the number of sources.
    assert await registered(app, "198.51.100.2", 0) == 201
    assert await registered(app, "198.51.100.3", 0) == 429


# -- claims -----------------------------------------------------------------------------------


async def test_a_rollout_of_a_hundred_valid_claims_is_never_throttled(
    register: Register, manager: Caller, tenant: dict[str, Any]
) -> None:
    """Issue 14, L5: one installer used to get 429 after 20 claims (burst 20, 0.5/s).
    The screens register in fours (this module's pending cap is tiny), then each of the
    installer's claims follows the last without any pause."""
    claimed = 0
    for wave in range(28):
        screens = [
            await register(hardware_id=f"roll-{wave}-{n}", ip=f"10.1.{wave}.{n + 1}")
            for n in range(4)
        ]
        for screen in screens:
            response = await claim(manager, tenant, screen.pairing_code, name=f"S{claimed}")
            assert response.status_code == 200, (claimed, await response.get_json())
            claimed += 1
    assert claimed == 112


async def test_failed_claims_count_per_tenant_on_every_node(
    app: Quart,
    settings: Settings,
    register: Register,
    manager: Caller,
    tenant: dict[str, Any],
    new_tenant: Callable[..., Awaitable[dict[str, Any]]],
    new_user: Callable[..., Awaitable[Caller]],
) -> None:
    other_tenant = await new_tenant()
    colleague = await new_user(tenant["id"], Role.DEVICE_MANAGER)
    outsider = await new_user(other_tenant["id"], Role.DEVICE_MANAGER)
    second_node = create_app(settings)
    async with second_node.test_app():
        # The colleague calls another node: the tenant's count is one, in PostgreSQL.
        elsewhere = dataclasses.replace(colleague, client=second_node.test_client())
        callers = [manager, elsewhere]
        for n in range(FREE_FAILURES):
            response = await claim(callers[n % 2], tenant, "BCDFGHJK")
            assert response.status_code == 404
        # The budget's last failure blocks the tenant's claims, valid codes too (else a
        # guesser would learn which codes are live), on every node.
        valid = await register(hardware_id="after-block", ip="198.51.100.77")
        for caller in callers:
            blocked = await claim(caller, tenant, valid.pairing_code)
            assert blocked.status_code == 429
            assert int(blocked.headers["Retry-After"]) >= 1
        # Another tenant's claims are not affected.
        fine = await register(hardware_id="other-tenant", ip="198.51.100.78")
        assert (await claim(outsider, other_tenant, fine.pairing_code)).status_code == 200


async def test_failed_claims_are_audited_at_a_bounded_rate(
    manager: Caller, tenant: dict[str, Any], database_url: str
) -> None:
    for code in ("BCDFGHJK", "nonsense!", "BCDFGHJL"):
        assert (await claim(manager, tenant, code)).status_code == 404
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT actor, details FROM audit_log WHERE tenant_id = %s"
            " AND action = 'device.claim_failed' ORDER BY seq",
            (tenant["id"],),
        ).fetchall()
    assert len(rows) == 1  # one entry per CLAIM_AUDIT_EVERY_S, whatever the attempts
    actor, details = rows[0]
    assert manager.user_id in actor
    assert '"failures_since_last_entry":1' in details
    assert "BCDFGHJK" not in details


# -- the self check ---------------------------------------------------------------------------


async def test_a_suspended_tenants_screen_learns_it_is_suspended(
    app: Quart, approved: Callable[..., Awaitable[Screen]], admin: Caller, tenant: dict[str, Any]
) -> None:
    screen = await approved()
    client = app.test_client()

    async def status() -> str:
        response = await client.get(
            "/api/v1/devices/self", headers=screen.auth, scope_base=peer("198.51.100.90")
        )
        body = await response.get_json()
        assert response.status_code == 200, body
        return str(body["status"])

    assert await status() == "approved"
    assert (await admin.post(f"/api/v1/tenants/{tenant['id']}/suspend")).status_code == 200
    assert await status() == "suspended"
    assert (await admin.post(f"/api/v1/tenants/{tenant['id']}/resume")).status_code == 200
    assert await status() == "approved"
