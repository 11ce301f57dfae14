"""The emergency API: who may do what, what is refused, what is audited, and the
platform-wide broadcast (its fan-out to every tenant's screens included)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from actors.domain.rbac import Role
from tests.auth.conftest import Caller
from tests.devices.conftest import Screen
from tests.emergencies.conftest import Approve, Connect, emergencies_of, trigger

pytestmark = pytest.mark.anyio

NewUser = Callable[..., Awaitable[Caller]]
NewTenant = Callable[..., Awaitable[dict[str, Any]]]
FIRE = {"message": "Fire", "severity": "critical", "target": {"all": True}}


@pytest.mark.parametrize("role", [Role.VIEWER, Role.DEVICE_MANAGER, Role.AUDITOR])
async def test_roles_without_the_trigger_permission_get_403(
    tenant: dict[str, Any], new_user: NewUser, role: Role
) -> None:
    caller = await new_user(tenant["id"], role)
    response = await caller.post(emergencies_of(tenant), FIRE)
    assert response.status_code == 403


async def test_tenant_admin_may_trigger(tenant: dict[str, Any], new_user: NewUser) -> None:
    caller = await new_user(tenant["id"], Role.TENANT_ADMIN)
    await trigger(caller, tenant)


async def test_another_tenants_operator_gets_404(
    tenant: dict[str, Any], new_tenant: NewTenant, new_user: NewUser, operator: Caller
) -> None:
    started = await trigger(operator, tenant)
    other = await new_user((await new_tenant())["id"], Role.EMERGENCY_OPERATOR)
    for response in (
        await other.post(emergencies_of(tenant), FIRE),
        await other.get(emergencies_of(tenant)),
        await other.get(f"{emergencies_of(tenant)}/{started['id']}"),
        await other.post(f"{emergencies_of(tenant)}/{started['id']}/clear"),
    ):
        assert response.status_code == 404


async def test_unknown_emergency_is_404(operator: Caller, tenant: dict[str, Any]) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    assert (await operator.get(f"{emergencies_of(tenant)}/{missing}")).status_code == 404
    assert (await operator.post(f"{emergencies_of(tenant)}/{missing}/clear")).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**FIRE, "target": {"all": True, "groups": ["lobby"]}}, "target"),
        ({**FIRE, "target": {}}, "target"),
        ({**FIRE, "target": {"all": False}}, "target.all"),
        ({**FIRE, "target": {"groups": []}}, "target.groups"),
        ({**FIRE, "target": {"device_ids": []}}, "target.device_ids"),
        ({**FIRE, "target": {"device_ids": ["not-a-uuid"]}}, "target.device_ids[0]"),
        ({**FIRE, "target": {"everyone": True}}, "target.everyone"),
        ({**FIRE, "severity": "apocalyptic"}, "severity"),
        ({**FIRE, "message": ""}, "message"),
        ({**FIRE, "message": "   "}, "message"),
        ({**FIRE, "message": "bell\x07"}, "message"),
        ({**FIRE, "message": "x" * 1001}, "message"),
        ({**FIRE, "expires_in_s": 0}, "expires_in_s"),
        ({**FIRE, "expires_in_s": 8 * 24 * 3600}, "expires_in_s"),
        ({**FIRE, "colour": "red"}, "colour"),
        ({"severity": "info", "target": {"all": True}}, "message"),
    ],
)
async def test_invalid_triggers_are_422_naming_the_field(
    operator: Caller, tenant: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    response = await operator.post(emergencies_of(tenant), body)
    problem = await response.get_json()
    assert response.status_code == 422, problem
    assert problem.get("field") == field, problem


async def test_multiline_messages_are_accepted(operator: Caller, tenant: dict[str, Any]) -> None:
    await trigger(operator, tenant, message="Fire on floor 2.\nUse the north stairs.")


async def test_suspended_tenant_cannot_trigger(admin: Caller, tenant: dict[str, Any]) -> None:
    # Its own users are logged out by the suspension; a platform admin gets the 409.
    response = await admin.post(f"/api/v1/tenants/{tenant['id']}/suspend")
    assert response.status_code == 200
    assert (await admin.post(emergencies_of(tenant), FIRE)).status_code == 409


async def test_sequence_numbers_are_per_tenant_and_gapless(
    operator: Caller, tenant: dict[str, Any], new_tenant: NewTenant, new_user: NewUser
) -> None:
    first = await trigger(operator, tenant)
    response = await operator.post(f"{emergencies_of(tenant)}/{first['id']}/clear")
    assert response.status_code == 200
    second = await trigger(operator, tenant)
    assert (first["seq"], second["seq"]) == (1, 3)
    other = await new_tenant()
    elsewhere = await trigger(await new_user(other["id"], Role.EMERGENCY_OPERATOR), other)
    assert elsewhere["seq"] == 1


async def test_trigger_and_clear_are_audited_in_the_tenant_chain(
    operator: Caller, tenant: dict[str, Any], new_user: NewUser
) -> None:
    started = await trigger(operator, tenant, message="Audited")
    await operator.post(f"{emergencies_of(tenant)}/{started['id']}/clear")
    auditor = await new_user(tenant["id"], Role.AUDITOR)
    response = await auditor.get(f"/api/v1/tenants/{tenant['id']}/audit?action=emergency.trigger")
    [entry] = (await response.get_json())["items"]
    assert entry["target"] == f"emergency:{started['id']}"
    assert entry["actor"] == f"user:{operator.user_id}"
    assert entry["details"]["after"]["message"] == "Audited"
    response = await auditor.get(f"/api/v1/tenants/{tenant['id']}/audit?action=emergency.clear")
    assert len((await response.get_json())["items"]) == 1
    verified = await auditor.get(f"/api/v1/tenants/{tenant['id']}/audit/verify")
    assert (await verified.get_json())["ok"] is True


async def test_viewers_read_the_list_and_the_report(
    operator: Caller, viewer: Caller, tenant: dict[str, Any]
) -> None:
    started = await trigger(operator, tenant)
    listed = await viewer.get(emergencies_of(tenant) + "?active=true")
    assert [e["id"] for e in (await listed.get_json())["items"]] == [started["id"]]
    one = await viewer.get(f"{emergencies_of(tenant)}/{started['id']}")
    body = await one.get_json()
    assert body["delivery"] == {
        "targeted": 0,
        "delivered": 0,
        "pending": 0,
        "offline": 0,
        "p50_ms": None,
        "p99_ms": None,
    }
    assert (await viewer.post(f"{emergencies_of(tenant)}/{started['id']}/clear")).status_code == 403


async def test_platform_broadcast_reaches_every_tenants_screens(
    admin: Caller,
    tenant: dict[str, Any],
    new_tenant: NewTenant,
    new_user: NewUser,
    approved: Approve,
    register: Callable[..., Awaitable[Screen]],
    play: Connect,
) -> None:
    other = await new_tenant()
    here = await approved("Here")
    there = await register(hardware_id="hw-there")
    claimed = await (await new_user(other["id"], Role.DEVICE_MANAGER)).post(
        f"/api/v1/tenants/{other['id']}/devices/claim",
        {"pairing_code": there.pairing_code, "name": "There"},
    )
    assert claimed.status_code == 200
    async with play(here) as a, play(there) as b:
        response = await admin.post("/api/v1/emergencies", {**FIRE, "message": "Evacuate"})
        answer = await response.get_json()
        assert response.status_code == 201, answer
        assert answer["tenants"] == 2
        assert answer["targeted"] == 2
        first, second = await a.emergency(), await b.emergency()
        assert first["message"] == second["message"] == "Evacuate"
        assert first["id"] != second["id"]  # one emergency per tenant
        operator = await new_user(tenant["id"], Role.EMERGENCY_OPERATOR)
        refused = await operator.post(f"{emergencies_of(tenant)}/{first['id']}/clear")
        assert refused.status_code == 403
        response = await admin.post(f"/api/v1/emergencies/{answer['id']}/clear")
        assert (await response.get_json()) == {"id": answer["id"], "cleared": 2}
        assert (await a.emergency())["type"] == "emergency_clear"
        assert (await b.emergency())["type"] == "emergency_clear"
    platform = await admin.get("/api/v1/audit?action=emergency.broadcast")
    [entry] = (await platform.get_json())["items"]
    assert entry["target"] == f"broadcast:{answer['id']}"
    for t in (tenant, other):
        chain = await admin.get(f"/api/v1/tenants/{t['id']}/audit?action=emergency.trigger")
        [trail] = (await chain.get_json())["items"]
        assert trail["details"]["after"]["broadcast_id"] == answer["id"]


async def test_only_platform_admins_broadcast(operator: Caller, tenant: dict[str, Any]) -> None:
    assert (await operator.post("/api/v1/emergencies", FIRE)).status_code == 403
