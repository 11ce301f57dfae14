"""Playlists and schedule entries over the admin API: validation, roles, isolation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from actors.domain.rbac import Role
from tests.auth.conftest import Caller
from tests.content.conftest import (
    Team,
    approved_content,
    claimed_device,
    create_content,
    create_playlist,
    create_schedule,
    delete,
    ok,
    put_json,
)

pytestmark = pytest.mark.anyio


async def test_a_playlist_keeps_its_items_in_order(team: Team) -> None:
    first = await approved_content(team)
    second = await approved_content(team)
    playlist = await create_playlist(
        team, {"content_id": second["id"]}, {"content_id": first["id"], "duration_s": 3}
    )
    assert playlist["name"] == "Loop"
    assert playlist["items"] == [
        {"content_id": second["id"], "duration_s": None},
        {"content_id": first["id"], "duration_s": 3},
    ]
    fetched = await ok(await team.viewer.get(f"{team.base}/playlists/{playlist['id']}"))
    assert fetched == playlist
    listed = await ok(await team.viewer.get(f"{team.base}/playlists"))
    assert [p["id"] for p in listed["items"]] == [playlist["id"]]


async def test_a_playlist_takes_only_approved_content(team: Team) -> None:
    draft = await create_content(team)
    archived = await approved_content(team)
    await ok(await team.editor.post(f"{team.base}/content/{archived['id']}/archive"))
    for item in (draft, archived):
        response = await team.editor.post(
            f"{team.base}/playlists", {"name": "x", "items": [{"content_id": item["id"]}]}
        )
        assert response.status_code == 409, await response.get_json()
    unknown = await team.editor.post(
        f"{team.base}/playlists",
        {"name": "x", "items": [{"content_id": "00000000-0000-4000-8000-000000000001"}]},
    )
    problem = await unknown.get_json()
    assert unknown.status_code == 422
    assert problem["field"] == "items[0].content_id"


async def test_content_edited_after_approval_stays_playable(team: Team) -> None:
    item = await approved_content(team)
    await ok(await team.editor.patch(f"{team.base}/content/{item['id']}", {"body": "v2"}))
    await create_playlist(team, {"content_id": item["id"]})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "items": []}, "name"),
        ({"name": "x", "items": [{"content_id": "nope"}]}, "items[0].content_id"),
        ({"name": "x", "items": "a"}, "items"),
        ({"name": "x"}, "items"),
        ({"name": "x", "items": [], "extra": 1}, "extra"),
    ],
)
async def test_malformed_playlists_are_422(team: Team, body: dict[str, Any], field: str) -> None:
    response = await team.editor.post(f"{team.base}/playlists", body)
    problem = await response.get_json()
    assert response.status_code == 422, problem
    assert problem["field"] == field


async def test_a_playlist_item_duration_is_bounded(team: Team) -> None:
    item = await approved_content(team)
    response = await team.editor.post(
        f"{team.base}/playlists",
        {"name": "x", "items": [{"content_id": item["id"], "duration_s": 0}]},
    )
    assert response.status_code == 422


async def test_replace_and_delete_a_playlist(team: Team) -> None:
    first = await approved_content(team)
    second = await approved_content(team)
    playlist = await create_playlist(team, {"content_id": first["id"]})
    path = f"{team.base}/playlists/{playlist['id']}"
    replaced = await ok(
        await put_json(
            team.editor, path, {"name": "Renamed", "items": [{"content_id": second["id"]}]}
        )
    )
    assert replaced["name"] == "Renamed"
    assert [i["content_id"] for i in replaced["items"]] == [second["id"]]
    assert replaced["created_at"] == playlist["created_at"]
    missing = await put_json(team.editor, f"{team.base}/playlists/{first['id']}", replaced)
    assert missing.status_code in (404, 422)
    assert (await delete(team.editor, path)).status_code == 204
    assert (await team.viewer.get(path)).status_code == 404
    assert (await delete(team.editor, path)).status_code == 404


async def test_a_scheduled_playlist_cannot_be_deleted(team: Team) -> None:
    item = await approved_content(team)
    playlist = await create_playlist(team, {"content_id": item["id"]})
    schedule = await create_schedule(team, playlist["id"])
    path = f"{team.base}/playlists/{playlist['id']}"
    assert (await delete(team.editor, path)).status_code == 409
    assert (
        await delete(team.scheduler, f"{team.base}/schedules/{schedule['id']}")
    ).status_code == 204
    assert (await delete(team.editor, path)).status_code == 204


async def test_playlist_and_schedule_roles(team: Team) -> None:
    item = await approved_content(team)
    body = {"name": "x", "items": [{"content_id": item["id"]}]}
    for caller in (team.scheduler, team.approver, team.viewer):
        assert (await caller.post(f"{team.base}/playlists", body)).status_code == 403
    playlist = await create_playlist(team, {"content_id": item["id"]})
    schedule = {"playlist_id": playlist["id"], "target": {"all": True}, "priority": 1}
    for caller in (team.editor, team.approver, team.viewer):
        assert (await caller.post(f"{team.base}/schedules", schedule)).status_code == 403
    created = await create_schedule(team, playlist["id"])
    assert (await delete(team.editor, f"{team.base}/schedules/{created['id']}")).status_code == 403


async def test_a_schedule_reads_back_as_written(team: Team) -> None:
    item = await approved_content(team)
    playlist = await create_playlist(team, {"content_id": item["id"]})
    schedule = await create_schedule(
        team,
        playlist["id"],
        target={"groups": ["lobby", "cafeteria"]},
        priority=5,
        starts_at="2030-03-01T00:00:00+01:00",
        ends_at="2030-04-01T00:00:00Z",
        days_of_week=[5, 1, 1],
        start_time="22:00",
        end_time="06:00",
        timezone="Europe/Berlin",
    )
    assert schedule["target"] == {"groups": ["cafeteria", "lobby"]}
    assert schedule["days_of_week"] == [1, 5]
    assert (schedule["start_time"], schedule["end_time"]) == ("22:00", "06:00")
    assert schedule["timezone"] == "Europe/Berlin"
    assert schedule["created_by"] == team.scheduler.user_id
    fetched = await ok(await team.viewer.get(f"{team.base}/schedules/{schedule['id']}"))
    assert fetched == schedule
    listed = await ok(await team.viewer.get(f"{team.base}/schedules"))
    assert [s["id"] for s in listed["items"]] == [schedule["id"]]


async def test_a_device_target_names_approved_devices_of_the_tenant(team: Team) -> None:
    item = await approved_content(team)
    playlist = await create_playlist(team, {"content_id": item["id"]})
    device = await claimed_device(team)
    schedule = await create_schedule(
        team, playlist["id"], target={"device_ids": [device["device_id"]]}
    )
    assert schedule["target"] == {"device_ids": [device["device_id"]]}
    response = await team.scheduler.post(
        f"{team.base}/schedules",
        {
            "playlist_id": playlist["id"],
            "target": {"device_ids": ["00000000-0000-4000-8000-000000000009"]},
            "priority": 1,
        },
    )
    problem = await response.get_json()
    assert response.status_code == 422, problem
    assert problem["field"] == "target.device_ids"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"target": {"all": True, "groups": ["a"]}}, "target"),
        ({"target": {}}, "target"),
        ({"target": {"all": False}}, "target.all"),
        ({"target": {"groups": []}}, "target.groups"),
        ({"target": {"device_ids": []}}, "target.device_ids"),
        ({"target": {"groups": ["bad group"]}}, "target.groups[0]"),
        ({"start_time": "24:00"}, "start_time"),
        ({"end_time": "7:00"}, "end_time"),
        ({"days_of_week": [0]}, "days_of_week[0]"),
        ({"days_of_week": []}, "days_of_week"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "localtime"}, "timezone"),
        ({"starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"}, "ends_at"),
        ({"priority": 2**31}, "priority"),
        ({"playlist_id": "00000000-0000-4000-8000-000000000002"}, "playlist_id"),
        ({"repeat": "daily"}, "repeat"),
    ],
)
async def test_invalid_schedules_are_422_naming_the_field(
    team: Team, change: dict[str, Any], field: str
) -> None:
    item = await approved_content(team)
    playlist = await create_playlist(team, {"content_id": item["id"]})
    body = {"playlist_id": playlist["id"], "target": {"all": True}, "priority": 1, **change}
    response = await team.scheduler.post(f"{team.base}/schedules", body)
    problem = await response.get_json()
    assert response.status_code == 422, problem
    assert problem["field"] == field


async def test_deleting_a_schedule(team: Team) -> None:
    item = await approved_content(team)
    playlist = await create_playlist(team, {"content_id": item["id"]})
    schedule = await create_schedule(team, playlist["id"])
    path = f"{team.base}/schedules/{schedule['id']}"
    assert (await delete(team.scheduler, path)).status_code == 204
    assert (await team.viewer.get(path)).status_code == 404
    assert (await delete(team.scheduler, path)).status_code == 404


async def test_other_tenants_playlists_and_schedules_are_404(
    team: Team,
    new_tenant: Callable[..., Awaitable[dict[str, Any]]],
    new_user: Callable[..., Awaitable[Caller]],
) -> None:
    item = await approved_content(team)
    playlist = await create_playlist(team, {"content_id": item["id"]})
    schedule = await create_schedule(team, playlist["id"])
    other = await new_tenant()
    outsider = await new_user(other["id"], Role.TENANT_ADMIN)
    for path in (
        f"{team.base}/playlists/{playlist['id']}",
        f"{team.base}/schedules/{schedule['id']}",
        f"/api/v1/tenants/{other['id']}/playlists/{playlist['id']}",
        f"/api/v1/tenants/{other['id']}/schedules/{schedule['id']}",
    ):
        assert (await outsider.get(path)).status_code == 404, path
    assert (await delete(outsider, f"{team.base}/schedules/{schedule['id']}")).status_code == 404
    # Its own tenant cannot name the other tenant's content or playlist either.
    theirs = f"/api/v1/tenants/{other['id']}"
    response = await outsider.post(
        f"{theirs}/playlists", {"name": "x", "items": [{"content_id": item["id"]}]}
    )
    assert response.status_code == 422
    response = await outsider.post(
        f"{theirs}/schedules",
        {"playlist_id": playlist["id"], "target": {"all": True}, "priority": 1},
    )
    assert response.status_code == 422
