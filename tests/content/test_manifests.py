"""Device manifests through the admin API: what each device plays, recomputed after every
change that alters it, versioned only when the document changes — and never naming
content that is not approved, archived or outside its validity."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from quart import Quart

from actors.domain.rbac import Role
from tests.auth.conftest import Caller
from tests.content.conftest import (
    MEDIA_BASE_URL,
    PNG,
    Team,
    approved_content,
    claimed_device,
    create_content,
    create_playlist,
    create_schedule,
    delete,
    manifest_of,
    ok,
    played_content,
    put,
    put_json,
    settled,
)

pytestmark = pytest.mark.anyio


def payload(manifest: dict[str, Any], content_id: str) -> dict[str, Any]:
    found = [c for c in manifest["content"] if c["id"] == content_id]
    assert len(found) == 1, manifest["content"]
    return dict(found[0])


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_a_device_without_schedules_idles(app: Quart, team: Team) -> None:
    device = await claimed_device(team)
    await settled(app)
    manifest = await manifest_of(team, device["device_id"])
    assert manifest["version"] >= 1
    assert manifest["device_id"] == device["device_id"]
    assert [piece["items"] for piece in manifest["slices"]] == [[]]
    starts = datetime.fromisoformat(manifest["starts_at"])
    ends = datetime.fromisoformat(manifest["ends_at"])
    assert starts <= datetime.now(UTC)
    assert ends - datetime.now(UTC) >= timedelta(hours=24)
    assert manifest["content"] == []
    assert manifest["acked_version"] is None


async def test_a_schedule_puts_its_playlist_in_the_manifest(app: Quart, team: Team) -> None:
    device = await claimed_device(team)
    text = await approved_content(team, body="Hello lobby", duration_s=7)
    picture = await approved_content(team, kind="image", body=None)
    playlist = await create_playlist(
        team, {"content_id": text["id"]}, {"content_id": picture["id"], "duration_s": 12}
    )
    await settled(app)
    before = await manifest_of(team, device["device_id"])
    schedule = await create_schedule(team, playlist["id"])
    await settled(app)
    manifest = await manifest_of(team, device["device_id"])
    assert manifest["version"] > before["version"]
    (piece,) = manifest["slices"]
    assert piece["schedule_id"] == schedule["id"]
    assert piece["playlist_id"] == playlist["id"]
    assert piece["items"] == [
        {"content_id": text["id"], "duration_s": 7},
        {"content_id": picture["id"], "duration_s": 12},
    ]
    assert payload(manifest, text["id"]) == {
        "id": text["id"],
        "revision": 1,
        "kind": "text",
        "url": None,
        "body": "Hello lobby",
        "sha256": None,
        "media_type": None,
    }
    digest = hashlib.sha256(PNG).hexdigest()
    media = payload(manifest, picture["id"])
    assert media["url"] == f"{MEDIA_BASE_URL}/{team.tenant_id}/{digest}"
    assert (media["sha256"], media["media_type"]) == (digest, "image/png")


async def test_unchanged_documents_keep_their_version(app: Quart, team: Team) -> None:
    device = await claimed_device(team)
    item = await approved_content(team)
    playlist = await create_playlist(team, {"content_id": item["id"]})
    await create_schedule(team, playlist["id"], target={"groups": ["elsewhere"]})
    await settled(app)
    first = await manifest_of(team, device["device_id"])
    # A change that does not reach this device (another group's schedule, a rename).
    await create_schedule(team, playlist["id"], target={"groups": ["elsewhere"]}, priority=9)
    await ok(
        await put_json(
            team.editor,
            f"{team.base}/playlists/{playlist['id']}",
            {"name": "Renamed", "items": [{"content_id": item["id"]}]},
        )
    )
    await settled(app)
    assert (await manifest_of(team, device["device_id"]))["version"] == first["version"]


async def test_only_the_approved_revision_plays(app: Quart, team: Team) -> None:
    device = await claimed_device(team)
    item = await approved_content(team, body="approved words")
    playlist = await create_playlist(team, {"content_id": item["id"]})
    await create_schedule(team, playlist["id"])
    path = f"{team.base}/content/{item['id']}"
    # A new revision is written and submitted: screens keep the approved one.
    await ok(await team.editor.patch(path, {"body": "unapproved words"}))
    await ok(await team.editor.post(f"{path}/submit"))
    await settled(app)
    manifest = await manifest_of(team, device["device_id"])
    assert payload(manifest, item["id"])["body"] == "approved words"
    assert payload(manifest, item["id"])["revision"] == 1
    # Rejected: still the approved one.
    await ok(await team.approver.post(f"{path}/reject", {"reason": "no"}))
    await settled(app)
    assert payload(await manifest_of(team, device["device_id"]), item["id"])["revision"] == 1
    # Resubmitted and approved: the new revision replaces it on the screen.
    await ok(await team.editor.patch(path, {"body": "better words"}))
    await ok(await team.editor.post(f"{path}/submit"))
    await ok(await team.approver.post(f"{path}/approve"))
    await settled(app)
    manifest = await manifest_of(team, device["device_id"])
    assert payload(manifest, item["id"]) | {"id": None} == {
        "id": None,
        "revision": 3,
        "kind": "text",
        "url": None,
        "body": "better words",
        "sha256": None,
        "media_type": None,
    }
    assert "unapproved words" not in str(manifest)


async def test_archived_content_leaves_every_manifest(app: Quart, team: Team) -> None:
    devices = [await claimed_device(team, name=f"Screen {n}") for n in range(3)]
    keep = await approved_content(team)
    gone = await approved_content(team)
    playlist = await create_playlist(team, {"content_id": keep["id"]}, {"content_id": gone["id"]})
    await create_schedule(team, playlist["id"])
    await settled(app)
    for device in devices:
        assert played_content(await manifest_of(team, device["device_id"])) == {
            keep["id"],
            gone["id"],
        }
    await ok(await team.editor.post(f"{team.base}/content/{gone['id']}/archive"))
    await settled(app)
    for device in devices:
        manifest = await manifest_of(team, device["device_id"])
        assert played_content(manifest) == {keep["id"]}
        assert gone["id"] not in {c["id"] for c in manifest["content"]}


async def test_content_never_approved_never_plays(app: Quart, team: Team) -> None:
    """However it is reached, a draft or a rejected item is in no manifest."""
    device = await claimed_device(team)
    live = await approved_content(team)
    draft = await create_content(team)
    rejected = await create_content(team)
    await ok(await team.editor.post(f"{team.base}/content/{rejected['id']}/submit"))
    await ok(
        await team.approver.post(f"{team.base}/content/{rejected['id']}/reject", {"reason": "x"})
    )
    playlist = await create_playlist(team, {"content_id": live["id"]})
    await create_schedule(team, playlist["id"])
    await settled(app)
    manifest = await manifest_of(team, device["device_id"])
    assert played_content(manifest) == {live["id"]}
    named = {c["id"] for c in manifest["content"]}
    assert draft["id"] not in named
    assert rejected["id"] not in named


async def test_validity_cuts_the_timeline(app: Quart, team: Team) -> None:
    device = await claimed_device(team)
    now = datetime.now(UTC)
    expired = await approved_content(team, valid_until=iso(now - timedelta(days=1)))
    soon = now + timedelta(hours=6)
    later = await approved_content(team, valid_from=iso(soon))
    always = await approved_content(team)
    playlist = await create_playlist(
        team,
        {"content_id": expired["id"]},
        {"content_id": later["id"]},
        {"content_id": always["id"]},
    )
    await create_schedule(team, playlist["id"])
    await settled(app)
    manifest = await manifest_of(team, device["device_id"])
    assert len(manifest["slices"]) == 2
    first, second = manifest["slices"]
    assert datetime.fromisoformat(first["end"]) == soon.replace(microsecond=0)
    assert [i["content_id"] for i in first["items"]] == [always["id"]]
    assert [i["content_id"] for i in second["items"]] == [later["id"], always["id"]]
    assert expired["id"] not in {c["id"] for c in manifest["content"]}


async def test_targets_priorities_and_regrouping(app: Quart, team: Team) -> None:
    lobby = await claimed_device(team, name="Lobby", groups=("lobby",))
    hall = await claimed_device(team, name="Hall")
    everyone = await approved_content(team)
    special = await approved_content(team)
    base = await create_playlist(team, {"content_id": everyone["id"]}, name="Base")
    extra = await create_playlist(team, {"content_id": special["id"]}, name="Extra")
    await create_schedule(team, base["id"], priority=1)
    await create_schedule(team, extra["id"], target={"groups": ["lobby"]}, priority=5)
    await settled(app)
    assert played_content(await manifest_of(team, lobby["device_id"])) == {special["id"]}
    assert played_content(await manifest_of(team, hall["device_id"])) == {everyone["id"]}
    # Regrouping the hall screen into the lobby group changes what it plays.
    await ok(
        await team.manager.patch(f"{team.base}/devices/{hall['device_id']}", {"groups": ["lobby"]})
    )
    await settled(app)
    assert played_content(await manifest_of(team, hall["device_id"])) == {special["id"]}
    # Deleting the group schedule returns both to the tenant-wide one.
    schedules = await ok(await team.viewer.get(f"{team.base}/schedules"))
    group_schedule = next(s for s in schedules["items"] if s["priority"] == 5)
    await ok_delete(team.scheduler, f"{team.base}/schedules/{group_schedule['id']}")
    await settled(app)
    for device in (lobby, hall):
        assert played_content(await manifest_of(team, device["device_id"])) == {everyone["id"]}


async def ok_delete(caller: Caller, path: str) -> None:
    response = await delete(caller, path)
    assert response.status_code == 204, await response.get_json()


async def test_a_daily_window_in_the_devices_zone(app: Quart, team: Team) -> None:
    device = await claimed_device(team, timezone="America/New_York")
    item = await approved_content(team)
    playlist = await create_playlist(team, {"content_id": item["id"]})
    await create_schedule(team, playlist["id"], start_time="09:00", end_time="17:00")
    await settled(app)
    manifest = await manifest_of(team, device["device_id"])
    edges = {datetime.fromisoformat(manifest[k]) for k in ("starts_at", "ends_at")}
    playing = [p for p in manifest["slices"] if p["items"]]
    assert playing, manifest["slices"]
    zone = ZoneInfo("America/New_York")
    for piece in playing:
        start = datetime.fromisoformat(piece["start"])
        end = datetime.fromisoformat(piece["end"])
        # Each window opens at 09:00 and closes at 17:00 New York time, unless the
        # manifest's own span cuts it.
        assert start in edges or start.astimezone(zone).time() == time(9, 0)
        assert end in edges or end.astimezone(zone).time() == time(17, 0)


async def test_playlist_edits_reach_the_manifest(app: Quart, team: Team) -> None:
    device = await claimed_device(team)
    first = await approved_content(team)
    second = await approved_content(team)
    playlist = await create_playlist(team, {"content_id": first["id"]})
    await create_schedule(team, playlist["id"])
    await settled(app)
    before = await manifest_of(team, device["device_id"])
    await ok(
        await put_json(
            team.editor,
            f"{team.base}/playlists/{playlist['id']}",
            {"name": "Loop", "items": [{"content_id": second["id"]}]},
        )
    )
    await settled(app)
    after = await manifest_of(team, device["device_id"])
    assert played_content(after) == {second["id"]}
    assert after["version"] > before["version"]


async def test_manifest_reads_need_a_tenant_role_and_a_live_device(
    app: Quart,
    team: Team,
    new_tenant: Callable[..., Awaitable[dict[str, Any]]],
    new_user: Callable[..., Awaitable[Caller]],
) -> None:
    device = await claimed_device(team)
    path = f"{team.base}/devices/{device['device_id']}/manifest"
    for caller in (team.viewer, team.editor, team.scheduler):
        assert (await caller.get(path)).status_code == 200
    other = await new_tenant()
    outsider = await new_user(other["id"], Role.TENANT_ADMIN)
    assert (await outsider.get(path)).status_code == 404
    unknown = f"{team.base}/devices/00000000-0000-4000-8000-000000000003/manifest"
    assert (await team.viewer.get(unknown)).status_code == 404
    await ok(await team.manager.post(f"{team.base}/devices/{device['device_id']}/revoke"))
    assert (await team.viewer.get(path)).status_code == 409


async def test_an_upload_never_plays_before_approval(app: Quart, team: Team) -> None:
    device = await claimed_device(team)
    picture = await approved_content(team, kind="image", body=None)
    playlist = await create_playlist(team, {"content_id": picture["id"]})
    await create_schedule(team, playlist["id"])
    replacement = b"\xff\xd8\xff\xe0" + b"\x01" * 200
    await ok(
        await put(
            team.editor, f"{team.base}/content/{picture['id']}/media", replacement, "image/jpeg"
        )
    )
    await settled(app)
    media = payload(await manifest_of(team, device["device_id"]), picture["id"])
    assert media["sha256"] == hashlib.sha256(PNG).hexdigest()
