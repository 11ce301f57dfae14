"""Drills end to end: ``"mode":"drill"`` reaches the screens marked as one, is listed and
reported apart, is audited with its mode, and never competes with a live emergency — a
drill cannot start while a live one is active (409), and a live start ends every drill."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import psycopg
import pytest

from actors.domain.emergencies import EmergencyStarted
from actors.domain.rbac import Role
from actors.domain.targets import TenantTarget
from tests.auth.conftest import Caller
from tests.emergencies.conftest import Approve, Connect, emergencies_of, trigger

pytestmark = pytest.mark.anyio

NewUser = Callable[..., Awaitable[Caller]]
NewTenant = Callable[..., Awaitable[dict[str, Any]]]


async def _clear(caller: Caller, tenant: dict[str, Any], emergency_id: str) -> dict[str, Any]:
    response = await caller.post(f"{emergencies_of(tenant)}/{emergency_id}/clear")
    body: dict[str, Any] = await response.get_json()
    assert response.status_code == 200, body
    return body


async def _listed(caller: Caller, tenant: dict[str, Any], query: str) -> list[dict[str, Any]]:
    response = await caller.get(emergencies_of(tenant) + query)
    body = await response.get_json()
    assert response.status_code == 200, body
    items: list[dict[str, Any]] = body["items"]
    return items


async def test_a_drill_reaches_screens_marked_as_one(
    operator: Caller, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    screen = await approved("Lobby")
    async with play(screen) as player:
        started = await trigger(operator, tenant, message="Fire drill", mode="drill")
        assert started["mode"] == "drill"
        frame = await player.emergency()
        assert frame["type"] == "emergency"
        assert (frame["id"], frame["mode"], frame["message"]) == (
            started["id"],
            "drill",
            "Fire drill",
        )
        await _clear(operator, tenant, started["id"])
        assert (await player.emergency())["type"] == "emergency_clear"


async def test_a_screen_connecting_during_a_drill_gets_it_as_a_drill(
    operator: Caller, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    screen = await approved("Late")
    started = await trigger(operator, tenant, mode="drill")
    async with play(screen) as player:
        frame = await player.emergency()
        assert (frame["id"], frame["mode"]) == (started["id"], "drill")


async def test_live_is_the_default_and_says_so(
    operator: Caller, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    screen = await approved("Lobby")
    async with play(screen) as player:
        started = await trigger(operator, tenant)
        assert started["mode"] == "live"
        assert (await player.emergency())["mode"] == "live"


async def test_drills_are_listed_and_reported_apart(
    operator: Caller, viewer: Caller, tenant: dict[str, Any]
) -> None:
    drill = await trigger(operator, tenant, mode="drill")
    await _clear(operator, tenant, drill["id"])
    live = await trigger(operator, tenant, mode="live")
    assert [e["id"] for e in await _listed(viewer, tenant, "?mode=drill")] == [drill["id"]]
    assert [e["id"] for e in await _listed(viewer, tenant, "?mode=live")] == [live["id"]]
    assert [e["id"] for e in await _listed(viewer, tenant, "")] == [live["id"], drill["id"]]
    assert await _listed(viewer, tenant, "?mode=drill&active=true") == []
    report = await viewer.get(f"{emergencies_of(tenant)}/{drill['id']}")
    body = await report.get_json()
    assert (body["mode"], body["active"]) == ("drill", False)
    assert "delivery" in body
    response = await viewer.get(emergencies_of(tenant) + "?mode=exercise")
    problem = await response.get_json()
    assert response.status_code == 422, problem
    assert problem["field"] == "mode"


async def test_an_unknown_mode_is_422_naming_it(operator: Caller, tenant: dict[str, Any]) -> None:
    response = await operator.post(
        emergencies_of(tenant),
        {"message": "x", "severity": "info", "target": {"all": True}, "mode": "practice"},
    )
    problem = await response.get_json()
    assert response.status_code == 422, problem
    assert problem["field"] == "mode"


async def test_a_drill_cannot_start_while_a_live_emergency_is_active(
    operator: Caller, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    screen = await approved("Lobby")
    async with play(screen) as player:
        live = await trigger(operator, tenant, message="Real fire")
        assert (await player.emergency())["id"] == live["id"]
        refused = await operator.post(
            emergencies_of(tenant),
            {"message": "Drill", "severity": "info", "target": {"all": True}, "mode": "drill"},
        )
        problem = await refused.get_json()
        assert refused.status_code == 409, problem
        assert "live emergency" in problem["detail"]
        # Nothing was started or numbered: the live one is all there is.
        assert [e["id"] for e in await _listed(operator, tenant, "")] == [live["id"]]
        await _clear(operator, tenant, live["id"])
        cleared = await player.emergency()
        assert cleared == {"type": "emergency_clear", "id": live["id"], "seq": live["seq"] + 1}
        drill = await trigger(operator, tenant, mode="drill")
        assert drill["seq"] == live["seq"] + 2  # gapless: the refusal took no number
        assert (await player.emergency())["mode"] == "drill"


async def test_a_live_start_ends_every_drill_and_screens_see_live_first(
    operator: Caller,
    tenant: dict[str, Any],
    new_user: NewUser,
    approved: Approve,
    play: Connect,
) -> None:
    lobby, hall = await approved("Lobby", ("lobby",)), await approved("Hall", ("hall",))
    async with play(lobby) as a, play(hall) as b:
        drill = await trigger(operator, tenant, mode="drill", target={"groups": ["lobby"]})
        assert (await a.emergency())["mode"] == "drill"
        live = await trigger(operator, tenant, message="Real", target={"groups": ["hall"]})
        assert live["ended_drills"] == [drill["id"]]
        # The lobby screen is not targeted by the live one, but its drill still ends:
        # no exercise runs anywhere in a tenant with a real emergency.
        assert await a.emergency() == {
            "type": "emergency_clear",
            "id": drill["id"],
            "seq": live["seq"] + 1,
        }
        assert (await b.emergency())["id"] == live["id"]
    ended = await (await operator.get(f"{emergencies_of(tenant)}/{drill['id']}")).get_json()
    assert (ended["active"], ended["end_reason"]) == (False, "cleared")
    assert ended["ended_by"] == f"user:{operator.user_id}"
    auditor = await new_user(tenant["id"], Role.AUDITOR)
    trail = await auditor.get(f"/api/v1/tenants/{tenant['id']}/audit?action=emergency.clear")
    [entry] = (await trail.get_json())["items"]
    assert entry["target"] == f"emergency:{drill['id']}"
    assert entry["details"]["ended_by_live"] == f"emergency:{live['id']}"
    assert entry["details"]["mode"] == "drill"
    verified = await auditor.get(f"/api/v1/tenants/{tenant['id']}/audit/verify")
    assert (await verified.get_json())["ok"] is True


async def test_the_trigger_audit_entry_names_the_mode(
    operator: Caller, tenant: dict[str, Any], new_user: NewUser
) -> None:
    drill = await trigger(operator, tenant, mode="drill")
    auditor = await new_user(tenant["id"], Role.AUDITOR)
    trail = await auditor.get(f"/api/v1/tenants/{tenant['id']}/audit?action=emergency.trigger")
    [entry] = (await trail.get_json())["items"]
    assert entry["target"] == f"emergency:{drill['id']}"
    assert entry["details"]["mode"] == "drill"
    assert entry["details"]["after"]["mode"] == "drill"


async def test_a_drill_broadcast_skips_tenants_in_a_real_emergency(
    admin: Caller, tenant: dict[str, Any], new_tenant: NewTenant, new_user: NewUser
) -> None:
    calm = await new_tenant()
    operator = await new_user(tenant["id"], Role.EMERGENCY_OPERATOR)
    await trigger(operator, tenant, message="Real")
    body = {"message": "Evacuation drill", "severity": "warning", "target": {"all": True}}
    response = await admin.post("/api/v1/emergencies", {**body, "mode": "drill"})
    answer = await response.get_json()
    assert response.status_code == 201, answer
    assert (answer["mode"], answer["tenants"], answer["skipped"]) == ("drill", 1, 1)
    drills = await _listed(admin, calm, "?mode=drill")
    assert [d["broadcast_id"] for d in drills] == [answer["id"]]
    assert await _listed(admin, tenant, "?mode=drill") == []


async def test_the_mode_of_a_stored_emergency_cannot_change(
    operator: Caller, tenant: dict[str, Any], database_url: str
) -> None:
    drill = await trigger(operator, tenant, mode="drill")
    with (
        psycopg.connect(database_url) as conn,
        pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="mode"),
    ):
        conn.execute("UPDATE emergencies SET mode = 'live' WHERE id = %s", (drill["id"],))


def test_a_live_start_crosses_the_relay_as_before_and_a_drill_says_drill() -> None:
    # A node of the previous version decodes live starts (it knows no "mode"); a drill
    # it cannot decode reaches it through the outbox catch-up instead.
    base: dict[str, Any] = {
        "id": "00000000-0000-4000-8000-000000000001",
        "seq": 1,
        "message": "m",
        "severity": "info",
        "target": TenantTarget(),
        "started_at": "2026-03-01T12:00:00Z",
        "expires_at": None,
    }
    live = msgspec.convert(base, EmergencyStarted, from_attributes=True)
    assert b'"mode"' not in msgspec.json.encode(live)
    drill = msgspec.structs.replace(live, mode="drill")
    encoded = msgspec.json.encode(drill)
    assert b'"mode":"drill"' in encoded
    assert msgspec.json.decode(encoded, type=EmergencyStarted) == drill
