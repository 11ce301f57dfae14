"""Emergency templates end to end: written by one person, approved by another (four eyes),
triggered with ``{"template_id"}`` alone onto real screens, archived; refused while
pending or archived (409), from another tenant (404), by the wrong roles (403); validated
by the trigger's own rules; every action audited; integration tokens trigger but never
write or approve."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any
from uuid import UUID

import anyio
import msgspec
import psycopg
import pytest
from quart import Quart

from actors.domain.emergencies import MAX_MESSAGE_CHARS
from actors.domain.emergency_templates import CreateTemplate
from actors.domain.principal import Principal
from actors.domain.rbac import Role
from actors.errors import Conflict
from actors.settings import Settings
from actors.usecases.emergency_templates import EmergencyTemplates
from tests.auth.conftest import Caller, container_of
from tests.emergencies.conftest import Approve, Connect, emergencies_of
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

NewUser = Callable[..., Awaitable[Caller]]
NewTenant = Callable[..., Awaitable[dict[str, Any]]]
EVACUATE = {
    "name": "Evacuate the building",
    "message": "Fire alarm. Leave by the nearest exit; do not use the lifts.",
    "severity": "critical",
    "target": {"all": True},
    "expires_in_s": 3600,
}


def templates_of(tenant: dict[str, Any]) -> str:
    return f"/api/v1/tenants/{tenant['id']}/emergency-templates"


async def answer(response: Any, status: int) -> dict[str, Any]:
    body: dict[str, Any] = await response.get_json()
    assert response.status_code == status, body
    return body


async def write(caller: Caller, tenant: dict[str, Any], **body: Any) -> dict[str, Any]:
    return await answer(await caller.post(templates_of(tenant), {**EVACUATE, **body}), 201)


async def approve(caller: Caller, tenant: dict[str, Any], template_id: str) -> dict[str, Any]:
    return await answer(await caller.post(f"{templates_of(tenant)}/{template_id}/approve"), 200)


@pytest.fixture
async def tenant_admin(tenant: dict[str, Any], new_user: NewUser) -> Caller:
    return await new_user(tenant["id"], Role.TENANT_ADMIN)


@pytest.fixture
async def second(tenant: dict[str, Any], new_user: NewUser) -> Caller:
    """Another emergency operator: the second pair of eyes."""
    return await new_user(tenant["id"], Role.EMERGENCY_OPERATOR)


async def test_written_approved_by_another_and_triggered_with_its_id_alone(
    operator: Caller,
    second: Caller,
    tenant: dict[str, Any],
    approved: Approve,
    play: Connect,
) -> None:
    written = await write(operator, tenant)
    assert written["state"] == "pending_approval"
    assert written["created_by"] == f"user:{operator.user_id}"
    assert (written["target"], written["mode"], written["expires_in_s"]) == (
        {"all": True},
        "live",
        3600,
    )
    done = await approve(second, tenant, written["id"])
    assert done["state"] == "approved"
    assert done["approved_by"] == f"user:{second.user_id}"
    screen = await approved("Lobby")
    async with play(screen) as player:
        started = await answer(
            await operator.post(emergencies_of(tenant), {"template_id": written["id"]}), 201
        )
        assert (started["targeted"], started["mode"]) == (1, "live")
        frame = await player.emergency()
        assert (frame["id"], frame["message"], frame["severity"], frame["mode"]) == (
            started["id"],
            EVACUATE["message"],
            "critical",
            "live",
        )
    shown = await answer(await operator.get(f"{emergencies_of(tenant)}/{started['id']}"), 200)
    assert shown["message"] == EVACUATE["message"]
    assert shown["expires_at"] is not None


async def test_its_creator_cannot_approve_it(operator: Caller, tenant: dict[str, Any]) -> None:
    written = await write(operator, tenant)
    refused = await answer(
        await operator.post(f"{templates_of(tenant)}/{written['id']}/approve"), 403
    )
    assert "other than its creator" in refused["detail"]
    one = await answer(await operator.get(f"{templates_of(tenant)}/{written['id']}"), 200)
    assert one["state"] == "pending_approval"


async def test_a_tenant_admin_approves_an_operators_template(
    operator: Caller, tenant_admin: Caller, tenant: dict[str, Any]
) -> None:
    written = await write(operator, tenant)
    assert (await approve(tenant_admin, tenant, written["id"]))["state"] == "approved"


async def test_an_unapproved_or_archived_template_cannot_be_triggered(
    operator: Caller, second: Caller, tenant: dict[str, Any]
) -> None:
    pending = await write(operator, tenant, name="Pending")
    refused = await answer(
        await operator.post(emergencies_of(tenant), {"template_id": pending["id"]}), 409
    )
    assert "not approved" in refused["detail"]
    kept = await write(operator, tenant, name="Kept")
    await approve(second, tenant, kept["id"])
    archived = await answer(await operator.delete(f"{templates_of(tenant)}/{kept['id']}"), 200)
    assert archived["state"] == "archived"
    assert archived["archived_by"] == f"user:{operator.user_id}"
    refused = await answer(
        await operator.post(emergencies_of(tenant), {"template_id": kept["id"]}), 409
    )
    assert "archived" in refused["detail"]
    # Nothing started, nothing numbered.
    listed = await answer(await operator.get(emergencies_of(tenant)), 200)
    assert listed["items"] == []
    # Archived is final; its name is free again.
    await answer(await operator.delete(f"{templates_of(tenant)}/{kept['id']}"), 409)
    await answer(await second.post(f"{templates_of(tenant)}/{kept['id']}/approve"), 409)
    await write(operator, tenant, name="Kept")


async def test_approving_twice_is_409(
    operator: Caller, second: Caller, tenant_admin: Caller, tenant: dict[str, Any]
) -> None:
    written = await write(operator, tenant)
    await approve(second, tenant, written["id"])
    await answer(await tenant_admin.post(f"{templates_of(tenant)}/{written['id']}/approve"), 409)


async def test_a_trigger_may_change_the_audience_and_the_mode_only(
    operator: Caller, second: Caller, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    lobby, hall = await approved("Lobby", ("lobby",)), await approved("Hall", ("hall",))
    written = await write(operator, tenant)
    await approve(second, tenant, written["id"])
    async with play(lobby), play(hall) as b:
        started = await answer(
            await operator.post(
                emergencies_of(tenant),
                {"template_id": written["id"], "target": {"groups": ["hall"]}, "mode": "drill"},
            ),
            201,
        )
        assert (started["targeted"], started["mode"]) == (1, "drill")
        frame = await b.emergency()
        assert (frame["id"], frame["mode"], frame["message"]) == (
            started["id"],
            "drill",
            EVACUATE["message"],
        )
        listed = await answer(await operator.get(emergencies_of(tenant) + "?mode=drill"), 200)
        assert [e["target"] for e in listed["items"]] == [{"groups": ["hall"]}]
    for field, value in (("message", "Other"), ("severity", "info"), ("expires_in_s", 5)):
        problem = await answer(
            await operator.post(
                emergencies_of(tenant), {"template_id": written["id"], field: value}
            ),
            422,
        )
        assert problem["field"] == field
    problem = await answer(
        await operator.post(
            emergencies_of(tenant), {"template_id": written["id"], "target": {"groups": []}}
        ),
        422,
    )
    assert problem["field"] == "target.groups"


async def test_a_full_trigger_still_needs_its_fields(
    operator: Caller, tenant: dict[str, Any]
) -> None:
    for body, field in (
        ({}, "message"),
        ({"message": "Fire", "target": {"all": True}}, "severity"),
        ({"message": "Fire", "severity": "info"}, "target"),
    ):
        problem = await answer(await operator.post(emergencies_of(tenant), body), 422)
        assert problem["field"] == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"message": ""}, "message"),
        ({"message": "x" * (MAX_MESSAGE_CHARS + 1)}, "message"),
        ({"message": "bell\x07"}, "message"),
        ({"severity": "extreme"}, "severity"),
        ({"target": {"all": True, "groups": ["a"]}}, "target"),
        ({"target": {"all": False}}, "target.all"),
        ({"target": {"device_ids": []}}, "target.device_ids"),
        ({"expires_in_s": 0}, "expires_in_s"),
        ({"mode": "practice"}, "mode"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
async def test_a_template_is_validated_as_the_trigger_is(
    operator: Caller, tenant: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    problem = await answer(await operator.post(templates_of(tenant), {**EVACUATE, **change}), 422)
    assert problem["field"] == field
    # The same value in a trigger is refused naming the same field.
    if field not in ("name", "unexpected"):
        trigger = {k: v for k, v in {**EVACUATE, **change}.items() if k != "name"}
        problem = await answer(await operator.post(emergencies_of(tenant), trigger), 422)
        assert problem["field"] == field


async def test_a_name_in_use_is_409(operator: Caller, tenant: dict[str, Any]) -> None:
    await write(operator, tenant)
    await answer(await operator.post(templates_of(tenant), EVACUATE), 409)


async def test_the_list_is_paged_by_name_and_filtered_by_state(
    operator: Caller, second: Caller, viewer: Caller, tenant: dict[str, Any]
) -> None:
    ids = {}
    for name in ("Flood", "Bomb threat", "Shelter in place"):
        ids[name] = (await write(operator, tenant, name=name))["id"]
    await approve(second, tenant, ids["Flood"])
    first = await answer(await viewer.get(templates_of(tenant), query_string={"limit": "2"}), 200)
    assert [t["name"] for t in first["items"]] == ["Bomb threat", "Flood"]
    rest = await answer(
        await viewer.get(
            templates_of(tenant), query_string={"limit": "2", "cursor": first["next_cursor"]}
        ),
        200,
    )
    assert ([t["name"] for t in rest["items"]], rest["next_cursor"]) == (["Shelter in place"], None)
    only = await answer(
        await viewer.get(templates_of(tenant), query_string={"state": "approved"}), 200
    )
    assert [t["name"] for t in only["items"]] == ["Flood"]
    wrong = await viewer.get(
        templates_of(tenant), query_string={"state": "approved", "cursor": first["next_cursor"]}
    )
    assert (await answer(wrong, 422))["field"] == "cursor"


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR, Role.APPROVER, Role.DEVICE_MANAGER])
async def test_roles_without_the_template_permission_get_403(
    operator: Caller, tenant: dict[str, Any], new_user: NewUser, role: Role
) -> None:
    caller = await new_user(tenant["id"], role)
    written = await write(operator, tenant)
    assert (await caller.post(templates_of(tenant), {**EVACUATE, "name": "X"})).status_code == 403
    assert (await caller.post(f"{templates_of(tenant)}/{written['id']}/approve")).status_code == 403
    assert (await caller.delete(f"{templates_of(tenant)}/{written['id']}")).status_code == 403
    # Reading is viewer+.
    assert (await caller.get(templates_of(tenant))).status_code == 200
    assert (await caller.get(f"{templates_of(tenant)}/{written['id']}")).status_code == 200


async def test_another_tenants_template_is_404_everywhere(
    operator: Caller,
    second: Caller,
    tenant: dict[str, Any],
    new_tenant: NewTenant,
    new_user: NewUser,
) -> None:
    written = await write(operator, tenant)
    await approve(second, tenant, written["id"])
    other = await new_tenant()
    outsider = await new_user(other["id"], Role.EMERGENCY_OPERATOR)
    one = f"{templates_of(tenant)}/{written['id']}"
    for response in (
        await outsider.get(templates_of(tenant)),
        await outsider.get(one),
        await outsider.post(templates_of(tenant), {**EVACUATE, "name": "Theirs"}),
        await outsider.post(one + "/approve"),
        await outsider.delete(one),
        await outsider.post(emergencies_of(tenant), {"template_id": written["id"]}),
        # Their own tenant's path with our template's id: no such template there.
        await outsider.post(emergencies_of(other), {"template_id": written["id"]}),
        await outsider.get(f"{templates_of(other)}/{written['id']}"),
    ):
        assert response.status_code == 404, await response.get_json()


async def test_every_action_is_audited_in_the_tenant_chain(
    operator: Caller, second: Caller, tenant: dict[str, Any], new_user: NewUser
) -> None:
    auditor = await new_user(tenant["id"], Role.AUDITOR)
    written = await write(operator, tenant)
    await approve(second, tenant, written["id"])
    started = await answer(
        await operator.post(
            emergencies_of(tenant), {"template_id": written["id"], "mode": "drill"}
        ),
        201,
    )
    await answer(await second.delete(f"{templates_of(tenant)}/{written['id']}"), 200)

    async def entries(action: str) -> list[dict[str, Any]]:
        found = await answer(
            await auditor.get(f"/api/v1/tenants/{tenant['id']}/audit?action={action}"), 200
        )
        items: list[dict[str, Any]] = found["items"]
        return items

    (created,) = await entries("emergency_template.create")
    assert created["actor"] == f"user:{operator.user_id}"
    assert created["target"] == f"emergency_template:{written['id']}"
    assert created["details"]["after"]["message"] == EVACUATE["message"]
    (approval,) = await entries("emergency_template.approve")
    assert approval["actor"] == f"user:{second.user_id}"
    assert approval["details"]["before"]["state"] == "pending_approval"
    assert approval["details"]["after"]["state"] == "approved"
    (triggered,) = await entries("emergency.trigger")
    assert triggered["target"] == f"emergency:{started['id']}"
    assert triggered["details"]["template_id"] == written["id"]
    assert triggered["details"]["template"] == EVACUATE["name"]
    assert triggered["details"]["overrides"] == ["mode"]
    assert triggered["details"]["mode"] == "drill"
    (archived,) = await entries("emergency_template.archive")
    assert archived["details"]["after"]["state"] == "archived"
    verified = await answer(await auditor.get(f"/api/v1/tenants/{tenant['id']}/audit/verify"), 200)
    assert verified["ok"] is True


async def test_integration_tokens_trigger_templates_but_never_write_or_approve(
    operator: Caller,
    second: Caller,
    tenant_admin: Caller,
    tenant: dict[str, Any],
    approved: Approve,
    play: Connect,
) -> None:
    created = await answer(
        await tenant_admin.post(
            f"/api/v1/tenants/{tenant['id']}/integrations",
            {"name": "Fire panel", "roles": ["emergency_operator"]},
        ),
        201,
    )
    panel = replace(operator, access_token=created["token"], user_id=created["id"])
    pending = await write(operator, tenant, name="Pending")
    refused = await answer(await panel.post(f"{templates_of(tenant)}/{pending['id']}/approve"), 403)
    assert "integration" in refused["detail"]
    refused = await answer(await panel.post(templates_of(tenant), {**EVACUATE, "name": "Bot"}), 403)
    assert "integration" in refused["detail"]
    await approve(second, tenant, pending["id"])
    screen = await approved("Lobby")
    async with play(screen) as player:
        started = await answer(
            await panel.post(emergencies_of(tenant), {"template_id": pending["id"]}), 201
        )
        assert (await player.emergency())["id"] == started["id"]
    shown = await answer(await operator.get(f"{emergencies_of(tenant)}/{started['id']}"), 200)
    assert shown["started_by"] == f"integration:{created['id']}"


async def test_a_tenant_keeps_a_bounded_number_of_templates(
    app: Quart, operator: Caller, second: Caller, tenant: dict[str, Any]
) -> None:
    templates = EmergencyTemplates(container_of(app).store, max_templates=2)
    who = Principal(
        user_id=UUID(operator.user_id),
        tenant_id=UUID(tenant["id"]),
        email=operator.email,
        roles=frozenset({Role.EMERGENCY_OPERATOR}),
    )

    def named(name: str) -> CreateTemplate:
        return msgspec.convert({**EVACUATE, "name": name}, CreateTemplate)

    for name in ("One", "Two"):
        await templates.create(who, UUID(tenant["id"]), named(name))
    with pytest.raises(Conflict, match="limit"):
        await templates.create(who, UUID(tenant["id"]), named("Three"))
    listed = await answer(await operator.get(templates_of(tenant)), 200)
    await answer(await operator.delete(f"{templates_of(tenant)}/{listed['items'][0]['id']}"), 200)
    await templates.create(who, UUID(tenant["id"]), named("Three"))


async def test_postgresql_refuses_edits_and_self_approval(
    operator: Caller, second: Caller, tenant: dict[str, Any], settings: Settings
) -> None:
    """The second wall: whatever the code, what was written cannot change, and a
    template's creator is never its approver."""
    written = await write(operator, tenant)
    assert settings.database.url is not None
    async with await psycopg.AsyncConnection.connect(settings.database.url) as conn:
        for statement in (
            "UPDATE emergency_templates SET message = 'Changed' WHERE id = %s",
            "UPDATE emergency_templates SET state = 'approved', approved_at = now(),"
            " approved_by = created_by WHERE id = %s",
        ):
            with pytest.raises(psycopg.errors.IntegrityError):
                async with conn.transaction():
                    await conn.execute(statement, (written["id"],))
    await approve(second, tenant, written["id"])
    async with await psycopg.AsyncConnection.connect(settings.database.url) as conn:
        with pytest.raises(psycopg.errors.IntegrityError):
            async with conn.transaction():
                await conn.execute(
                    "UPDATE emergency_templates SET state = 'pending_approval',"
                    " approved_at = NULL, approved_by = NULL WHERE id = %s",
                    (written["id"],),
                )


async def test_an_archive_in_flight_makes_the_trigger_wait_then_refuse(
    operator: Caller, second: Caller, tenant: dict[str, Any], settings: Settings
) -> None:
    """The trigger reads the template under its row lock: while an archive holds the row,
    the trigger waits (seen in pg_stat_activity), and once the archive commits it is 409
    — never an emergency started from a template archived at the same instant."""
    written = await write(operator, tenant)
    await approve(second, tenant, written["id"])
    assert settings.database.url is not None
    answers: list[Any] = []

    async def trigger_it() -> None:
        answers.append(await operator.post(emergencies_of(tenant), {"template_id": written["id"]}))

    async with await psycopg.AsyncConnection.connect(settings.database.url) as archiver:

        async def trigger_waits() -> bool:
            # pg_stat_activity is a snapshot per transaction: take a fresh one each time.
            await archiver.execute("SELECT pg_stat_clear_snapshot()")
            cur = await archiver.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND query LIKE %s",
                ("%emergency_templates%FOR UPDATE%",),
            )
            row = await cur.fetchone()
            return row is not None and row[0] > 0

        with anyio.fail_after(10.0):
            async with anyio.create_task_group() as tg, archiver.transaction():
                await archiver.execute(
                    "SELECT 1 FROM emergency_templates WHERE id = %s FOR UPDATE",
                    (written["id"],),
                )
                tg.start_soon(trigger_it)
                await eventually(trigger_waits, timeout_s=10.0)
                assert answers == []
                await archiver.execute(
                    "UPDATE emergency_templates SET state = 'archived',"
                    " archived_at = now(), archived_by = 'user:tests' WHERE id = %s",
                    (written["id"],),
                )
                # Committed: the waiting trigger now reads an archived template.
    (refused,) = answers
    problem = await answer(refused, 409)
    assert "archived" in problem["detail"]
    listed = await answer(await operator.get(emergencies_of(tenant)), 200)
    assert listed["items"] == []
