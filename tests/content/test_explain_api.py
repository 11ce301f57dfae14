""" "Why is this playing" over HTTP: ``GET .../devices/{did}/explain?at=`` names what the
device's manifest plays at that instant and why every other entry does not; viewer+ of
the device's tenant only; bad instants are 422."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from quart import Quart

from actors.domain.principal import AuditActor
from actors.domain.rbac import TENANT_ROLES, Role
from tests.auth.conftest import Caller, container_of, login_as
from tests.content.conftest import (
    Team,
    approved_content,
    claimed_device,
    create_playlist,
    create_schedule,
    manifest_of,
    ok,
    settled,
)

pytestmark = pytest.mark.anyio


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def explain(
    team: Team, device_id: str, at: str | None = None, who: Caller | None = None
) -> Any:
    path = f"{team.base}/devices/{device_id}/explain"
    if at is not None:
        path += f"?at={at}"
    return await (who or team.viewer).get(path)


async def test_the_explanation_names_what_the_manifest_plays_and_why_the_rest_does_not(
    app: Quart, team: Team
) -> None:
    device = await claimed_device(team, groups=("lobby",))
    did = device["device_id"]
    text = await approved_content(team, body="Welcome", duration_s=7)
    main = await create_playlist(team, {"content_id": text["id"]})
    spare = await create_playlist(team, {"content_id": text["id"], "duration_s": 3})
    winner = await create_schedule(team, main["id"], priority=5, target={"groups": ["lobby"]})
    lower = await create_schedule(team, spare["id"], priority=2, target={"device_ids": [did]})
    later = await create_schedule(
        team, spare["id"], priority=9, starts_at=iso(datetime.now(UTC) + timedelta(days=2))
    )
    elsewhere = await create_schedule(team, spare["id"], priority=9, target={"groups": ["cafe"]})
    await settled(app)

    body = await ok(await explain(team, did))
    now = datetime.now(UTC)
    at = datetime.fromisoformat(body["at"])
    assert now - timedelta(seconds=30) < at <= now
    assert body["device_id"] == did
    assert body["timezone"] == "UTC"
    assert body["playing"] == {
        "schedule_id": winner["id"],
        "playlist_id": main["id"],
        "items": [{"content_id": text["id"], "duration_s": 7}],
        "held_back": [],
    }
    assert [(c["schedule_id"], c["won"], c["reason"]) for c in body["candidates"]] == [
        (later["id"], False, "not_started"),
        (winner["id"], True, "playing"),
        (lower["id"], False, "lower_priority"),
    ]
    assert elsewhere["id"] not in {c["schedule_id"] for c in body["candidates"]}
    by_id = {c["schedule_id"]: c for c in body["candidates"]}
    assert by_id[lower["id"]]["detail"] == "priority 2 is below the winner's 5"
    assert by_id[lower["id"]]["target_scope"] == "device"
    assert by_id[winner["id"]]["target_scope"] == "group"
    assert by_id[winner["id"]]["priority"] == 5

    # The manifest the screen holds plays the same at that instant.
    manifest = await manifest_of(team, did)
    (piece,) = [
        s
        for s in manifest["slices"]
        if datetime.fromisoformat(s["start"]) <= at < datetime.fromisoformat(s["end"])
    ]
    assert piece["schedule_id"] == body["playing"]["schedule_id"]
    assert piece["items"] == body["playing"]["items"]

    # In two days the dated entry takes over; the manifest's slice there agrees too.
    ahead = at + timedelta(days=2, minutes=1)
    future = await ok(await explain(team, did, iso(ahead)))
    assert future["playing"]["schedule_id"] == later["id"]
    assert {c["schedule_id"]: c["reason"] for c in future["candidates"]} == {
        later["id"]: "playing",
        winner["id"]: "lower_priority",
        lower["id"]: "lower_priority",
    }


async def test_at_is_read_with_its_offset_and_bad_instants_are_422(app: Quart, team: Team) -> None:
    device = await claimed_device(team, timezone="Europe/Berlin")
    did = device["device_id"]
    text = await approved_content(team)
    playlist = await create_playlist(team, {"content_id": text["id"]})
    office = await create_schedule(
        team, playlist["id"], start_time="08:00", end_time="18:00", days_of_week=[1, 2, 3, 4, 5]
    )
    # Monday 2026-12-07 09:30 in Berlin, written with its offset (+ sent as %2B).
    body = await ok(await explain(team, did, quote("2026-12-07T09:30:00+01:00", safe="")))
    assert body["at"] == "2026-12-07T08:30:00Z"
    assert body["playing"]["schedule_id"] == office["id"]
    evening = await ok(await explain(team, did, "2026-12-07T18:00:00Z"))  # 19:00 Berlin
    (candidate,) = evening["candidates"]
    assert candidate["reason"] == "outside_hours"
    assert candidate["timezone"] == "Europe/Berlin"
    assert "Monday 19:00 in Europe/Berlin" in candidate["detail"]
    sunday = await ok(await explain(team, did, "2026-12-06T09:30:00Z"))
    assert sunday["candidates"][0]["reason"] == "outside_days"
    assert sunday["playing"] is None

    for bad in (
        "yesterday",
        "2026-12-07T09:30:00",  # no offset
        "2026-12-07T09:30:00+01:00",  # the + arrives as a space
        "1969-12-31T23:59:59Z",
        "9999-06-01T00:00:00Z",
        "0001-01-01T00:30:00%2B01:00",  # year 0 in UTC
    ):
        problem = await ok(await explain(team, did, bad), 422)
        assert problem["field"] == "at", bad
    unknown = await team.viewer.get(f"{team.base}/devices/{did}/explain?when=now")
    assert (await ok(unknown, 422))["field"] == "when"


async def test_a_winner_without_playable_content_idles_and_says_which_items_are_held_back(
    app: Quart, team: Team
) -> None:
    device = await claimed_device(team)
    did = device["device_id"]
    archived = await approved_content(team)
    expired = await approved_content(
        team, valid_until=iso(datetime.now(UTC) + timedelta(minutes=1))
    )
    playlist = await create_playlist(
        team, {"content_id": archived["id"]}, {"content_id": expired["id"]}
    )
    await ok(await team.editor.post(f"{team.base}/content/{archived['id']}/archive"))
    fallback_list = await create_playlist(team, {"content_id": expired["id"]})
    top = await create_schedule(team, playlist["id"], priority=3)
    fallback = await create_schedule(team, fallback_list["id"], priority=1)
    at = datetime.now(UTC) + timedelta(minutes=5)
    body = await ok(await explain(team, did, iso(at)))
    assert body["playing"]["schedule_id"] == top["id"]
    assert body["playing"]["items"] == []
    assert [(h["content_id"], h["reason"]) for h in body["playing"]["held_back"]] == [
        (archived["id"], "archived"),
        (expired["id"], "expired"),
    ]
    assert {c["schedule_id"]: c["reason"] for c in body["candidates"]} == {
        top["id"]: "no_playable_content",
        fallback["id"]: "lower_priority",
    }


async def test_every_tenant_role_may_ask_but_not_other_tenants_nor_the_platform_operator(
    app: Quart,
    team: Team,
    admin: Caller,
    new_tenant: Callable[..., Awaitable[dict[str, Any]]],
    new_user: Callable[..., Awaitable[Caller]],
) -> None:
    other_tenant = await new_tenant()
    device = await claimed_device(team)
    did = device["device_id"]
    for role in sorted(TENANT_ROLES):
        caller = await new_user(team.tenant_id, role)
        assert (await explain(team, did, who=caller)).status_code == 200, role
    assert (await explain(team, did, who=admin)).status_code == 200  # platform admin

    outsider = await new_user(other_tenant["id"], Role.TENANT_ADMIN)
    foreign = await ok(await explain(team, did, who=outsider), 404)
    # Their own tenant's path with this tenant's device: no such device there either.
    theirs = f"/api/v1/tenants/{other_tenant['id']}/devices/{did}/explain"
    assert (await outsider.get(theirs)).status_code == 404
    assert (await admin.get(theirs)).status_code == 404
    unknown = await ok(await explain(team, str(uuid.uuid4()), who=outsider), 404)
    foreign.pop("request_id"), unknown.pop("request_id")
    assert foreign == unknown  # nothing tells a foreign device from none
    assert (await explain(team, str(uuid.uuid4()))).status_code == 404

    await container_of(app).users.provision(
        "ops-explain@example.test",
        "operator password",
        roles=[Role.PLATFORM_OPERATOR],
        actor=AuditActor.system("tests"),
    )
    operator = await login_as(admin.client, "ops-explain@example.test", "operator password")
    # Operators read devices, not schedules: the explanation shows schedules.
    assert (await explain(team, did, who=operator)).status_code == 403

    anonymous = await team.viewer.client.get(f"{team.base}/devices/{did}/explain")
    assert anonymous.status_code == 401


async def test_a_revoked_device_plays_nothing_and_is_409(app: Quart, team: Team) -> None:
    device = await claimed_device(team)
    did = device["device_id"]
    await ok(await team.manager.post(f"{team.base}/devices/{did}/revoke"))
    problem = await ok(await explain(team, did), 409)
    assert "revoked" in problem["detail"]
