"""Per-screen delivery over HTTP and real WebSockets: each targeted screen with its state,
node, ack time and latency; the list agrees with the report's counters; the counters move
as acks arrive and show each one within 1 s at the shipped ack flush interval; paging,
filters, RBAC and other tenants' emergencies (404).

This module runs with the production ``EMERGENCY_ACK_FLUSH_S`` (not the fast timers of
the other emergency tests), so that the 1 s coverage figure is the one operators get.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from quart import Quart

from actors.domain.devices import Presence
from actors.domain.principal import Principal
from actors.domain.rbac import Role
from actors.pagination import PageRequest
from actors.settings import Settings
from actors.usecases.emergency_deliveries import EmergencyDeliveries, ScreenDeliveryQuery
from tests.auth.conftest import FAST_HASHING, Caller, container_of
from tests.conftest import make_settings
from tests.emergencies.conftest import (
    EMERGENCY_TIMERS,
    Approve,
    Connect,
    emergencies_of,
    report_when,
    trigger,
)
from tests.pagination.test_lists import insert_devices

pytestmark = pytest.mark.anyio

NewUser = Callable[..., Awaitable[Caller]]
NewTenant = Callable[..., Awaitable[dict[str, Any]]]
#: The operator's promise: an ack shows in the report within this.
COVERAGE_S = 1.0
STATES = ("delivered", "pending", "offline")


@pytest.fixture
def settings(db_clean: str) -> Settings:
    timers = {k: v for k, v in EMERGENCY_TIMERS.items() if k != "emergency_ack_flush_s"}
    shipped = make_settings(db_clean, **FAST_HASHING, **timers)
    assert shipped.emergencies.ack_flush_s == 0.5  # the shipped default, which docs promise
    return shipped


def deliveries_of(tenant: dict[str, Any], emergency_id: str) -> str:
    return f"{emergencies_of(tenant)}/{emergency_id}/deliveries"


async def listed(caller: Caller, path: str, **params: str) -> dict[str, Any]:
    response = await caller.get(path, query_string=params)
    body: dict[str, Any] = await response.get_json()
    assert response.status_code == 200, body
    return body


async def walk(caller: Caller, path: str, **params: str) -> list[dict[str, Any]]:
    """Every row, following ``next_cursor``."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100):
        query = dict(params) if cursor is None else {**params, "cursor": cursor}
        page = await listed(caller, path, **query)
        rows += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return rows
    raise AssertionError("the walk did not end")


async def test_each_screen_with_its_state_node_ack_and_latency(
    operator: Caller, viewer: Caller, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    acking, silent = await approved("Acking"), await approved("Silent")
    dark = await approved("Dark")
    async with play(acking) as a, play(silent) as s:
        started = await trigger(operator, tenant)
        await a.emergency()
        await a.ack(started["id"])
        await s.emergency()
        report = await report_when(
            viewer, tenant, started["id"], lambda d: d["delivered"] == 1 and d["pending"] == 1
        )
        rows = (await listed(viewer, deliveries_of(tenant, started["id"])))["items"]
        assert [(r["name"], r["state"], r["node"]) for r in rows] == [
            ("Acking", "delivered", "test-node"),
            ("Dark", "offline", None),
            ("Silent", "pending", "test-node"),
        ]
        by_name = {r["name"]: r for r in rows}
        assert by_name["Dark"]["device_id"] == dark.device_id
        assert by_name["Acking"]["device_id"] == acking.device_id
        acked_at = datetime.fromisoformat(by_name["Acking"]["acked_at"])
        assert acked_at >= datetime.fromisoformat(started["started_at"])
        assert 0 <= by_name["Acking"]["latency_ms"] < 5_000
        assert by_name["Acking"]["latency_ms"] == report["delivery"]["p50_ms"]
        for name in ("Dark", "Silent"):
            assert (by_name[name]["acked_at"], by_name[name]["latency_ms"]) == (None, None)
        for state, name in (("delivered", "Acking"), ("pending", "Silent"), ("offline", "Dark")):
            only = await listed(viewer, deliveries_of(tenant, started["id"]), state=state)
            assert [r["name"] for r in only["items"]] == [name]
            assert only["next_cursor"] is None


async def test_the_list_summed_by_state_is_the_report(
    operator: Caller,
    manager: Caller,
    tenant: dict[str, Any],
    settings: Settings,
    approved: Approve,
    play: Connect,
) -> None:
    """Screens in every state, one revoked after its ack (still delivered) and one
    revoked without (no longer targeted): both views count the same screens alike."""
    screens = [await approved(f"Screen-{i}") for i in range(4)]
    await insert_devices(settings, tenant["id"], [f"Stored {i}" for i in range(5)])
    started = await trigger(operator, tenant)
    async with play(screens[0]) as a, play(screens[1]) as b, play(screens[2]) as c:
        for player in (a, b):
            await player.emergency()
            await player.ack(started["id"])
        await c.emergency()
        await report_when(operator, tenant, started["id"], lambda d: d["delivered"] == 2)
        for screen in (screens[0], screens[3]):
            revoked = await manager.post(
                f"/api/v1/tenants/{tenant['id']}/devices/{screen.device_id}/revoke"
            )
            assert revoked.status_code == 200, await revoked.get_json()
        report = await report_when(
            operator, tenant, started["id"], lambda d: d["pending"] == 1 and d["offline"] == 5
        )
        rows = await walk(operator, deliveries_of(tenant, started["id"]), limit="3")
    delivery = report["delivery"]
    counts = {state: sum(r["state"] == state for r in rows) for state in STATES}
    assert counts == {"delivered": 2, "pending": 1, "offline": 5}
    assert {state: delivery[state] for state in STATES} == counts
    assert delivery["targeted"] == len(rows) == 8
    assert screens[3].device_id not in {r["device_id"] for r in rows}
    assert len({r["device_id"] for r in rows}) == 8
    assert [r["name"] for r in rows] == sorted(r["name"] for r in rows)


async def test_filtered_pages_follow_the_cursor_to_every_screen(
    operator: Caller, tenant: dict[str, Any], settings: Settings, approved: Approve, play: Connect
) -> None:
    names = [f"Offline {i:02d}" for i in range(12)]
    await insert_devices(settings, tenant["id"], names)
    online = await approved("Online-00")
    async with play(online) as player:
        started = await trigger(operator, tenant)
        await player.emergency()
        await report_when(operator, tenant, started["id"], lambda d: d["pending"] == 1)
        path = deliveries_of(tenant, started["id"])
        offline = await walk(operator, path, state="offline", limit="5")
        pending = await walk(operator, path, state="pending", limit="5")
        delivered = await walk(operator, path, state="delivered", limit="5")
    assert [r["name"] for r in offline] == names
    assert [r["name"] for r in pending] == ["Online-00"]
    assert delivered == []


async def test_a_cursor_belongs_to_its_emergency_and_state(
    operator: Caller, tenant: dict[str, Any], settings: Settings
) -> None:
    await insert_devices(settings, tenant["id"], ["A", "B", "C"])
    first, second = await trigger(operator, tenant), await trigger(operator, tenant)
    page = await listed(operator, deliveries_of(tenant, first["id"]), limit="1")
    cursor = page["next_cursor"]
    assert cursor is not None
    for path, params in (
        (deliveries_of(tenant, second["id"]), {"cursor": cursor, "limit": "1"}),
        (deliveries_of(tenant, first["id"]), {"cursor": cursor, "state": "offline"}),
    ):
        response = await operator.get(path, query_string=params)
        problem = await response.get_json()
        assert response.status_code == 422, problem
        assert problem["field"] == "cursor"


async def test_an_unknown_state_is_422_naming_it(operator: Caller, tenant: dict[str, Any]) -> None:
    started = await trigger(operator, tenant)
    response = await operator.get(
        deliveries_of(tenant, started["id"]), query_string={"state": "acked"}
    )
    problem = await response.get_json()
    assert response.status_code == 422, problem
    assert problem["field"] == "state"


async def test_viewers_read_it_other_tenants_get_404(
    operator: Caller,
    viewer: Caller,
    tenant: dict[str, Any],
    new_tenant: NewTenant,
    new_user: NewUser,
) -> None:
    started = await trigger(operator, tenant)
    assert (await viewer.get(deliveries_of(tenant, started["id"]))).status_code == 200
    other_tenant = await new_tenant()
    outsider = await new_user(other_tenant["id"], Role.TENANT_ADMIN)
    assert (await outsider.get(deliveries_of(tenant, started["id"]))).status_code == 404
    # Another tenant's emergency under one's own tenant is no emergency at all.
    theirs = await trigger(outsider, other_tenant)
    assert (await viewer.get(deliveries_of(tenant, theirs["id"]))).status_code == 404
    missing = "00000000-0000-4000-8000-000000000000"
    assert (await viewer.get(deliveries_of(tenant, missing))).status_code == 404
    anonymous = await viewer.client.get(deliveries_of(tenant, started["id"]))
    assert anonymous.status_code == 401


async def test_each_ack_shows_in_the_report_within_a_second(
    operator: Caller, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    """Live coverage: screens ack one after another while an operator watches the report;
    each ack moves the counters (and the list) within ``COVERAGE_S`` at the shipped
    ``EMERGENCY_ACK_FLUSH_S``."""
    screens = [await approved(f"Screen-{i}") for i in range(4)]
    async with (
        play(screens[0]) as p0,
        play(screens[1]) as p1,
        play(screens[2]) as p2,
        play(screens[3]) as p3,
    ):
        players = [p0, p1, p2, p3]
        started = await trigger(operator, tenant)
        for player in players:
            await player.emergency()
        waits: list[float] = []
        for acked, player in enumerate(players, start=1):
            await player.ack(started["id"])
            sent = time.monotonic()
            report = await report_when(
                operator,
                tenant,
                started["id"],
                lambda d, n=acked: d["delivered"] == n,  # type: ignore[misc]
                timeout=COVERAGE_S,
            )
            waits.append(time.monotonic() - sent)
            assert report["delivery"]["pending"] == len(players) - acked
            delivered = await listed(
                operator, deliveries_of(tenant, started["id"]), state="delivered"
            )
            assert [r["device_id"] for r in delivered["items"]] == [
                s.device_id for s in screens[:acked]
            ]
    assert max(waits) < COVERAGE_S, waits


class _Presence:
    """Presence as a fixed set of online screens (the rule under test is the scan)."""

    def __init__(self, online: set[UUID]) -> None:
        self.online = online
        self.lookups: list[int] = []

    async def lookup(self, tenant_id: UUID, device_ids: Sequence[UUID]) -> dict[UUID, Presence]:
        self.lookups.append(len(device_ids))
        now = datetime.now().astimezone()
        return {d: Presence("node-b", now) for d in device_ids if d in self.online}


async def test_a_filtered_request_reads_a_bounded_number_of_rows(
    app: Quart, operator: Caller, tenant: dict[str, Any], settings: Settings
) -> None:
    """With 20 offline screens before the only pending one, and at most 8 rows read per
    request, the pending screen is reached through short pages that carry a cursor."""
    ids = await insert_devices(settings, tenant["id"], [f"S{i:02d}" for i in range(21)])
    started = await trigger(operator, tenant)
    presence = _Presence({ids[-1]})
    lists = EmergencyDeliveries(container_of(app).store, presence, scan_batch=4, scan_max=8)
    who = Principal(
        user_id=uuid4(),
        tenant_id=UUID(tenant["id"]),
        email="v@example.test",
        roles=frozenset({Role.VIEWER}),
    )
    tenant_id, emergency_id = UUID(tenant["id"]), UUID(started["id"])
    query = ScreenDeliveryQuery(state="pending")
    request: PageRequest[Any] = PageRequest(limit=2)
    pages = []
    for _ in range(10):
        page = await lists.list(who, tenant_id, emergency_id, query, request)
        pages.append([s.name for s in page.items])
        if page.next is None:
            break
        request = PageRequest(limit=2, after=page.next)
    assert pages == [[], [], ["S20"]]
    assert max(presence.lookups) == 4
    assert sum(presence.lookups) == 21
    found = await lists.list(
        who, tenant_id, emergency_id, ScreenDeliveryQuery(), PageRequest(limit=30)
    )
    assert [(s.name, s.state, s.node) for s in found.items][-2:] == [
        ("S19", "offline", None),
        ("S20", "pending", "node-b"),
    ]
    assert found.next is None
