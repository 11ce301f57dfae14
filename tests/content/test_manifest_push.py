"""Manifests reach connected screens over a real WebSocket (Hypercorn in-process): the
opening carries the current one, every change that alters it pushes a new version, and
screens' acknowledgements are stored."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from quart import Quart
from websockets.asyncio.client import ClientConnection, connect

from actors.settings import Settings
from edge.app import create_app
from tests.content.conftest import (
    Team,
    approved_content,
    claimed_device,
    create_playlist,
    create_schedule,
    delete,
    manifest_of,
    ok,
    played_content,
    settled,
)
from tests.live import served
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

WAIT_S = 10.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Hypercorn waits its whole graceful timeout at shutdown here (as in tests/devices):
    # keep it short, these tests do not exercise shutdown.
    return settings.updated(shutdown_grace_s=1.0)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Quart]:
    application = create_app(settings)
    async with served(application, settings) as port:
        application.config["TEST_PORT"] = port
        yield application


def ws_url(app: Quart) -> str:
    return f"ws://127.0.0.1:{app.config['TEST_PORT']}/api/v1/devices/ws"


async def next_frame(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next frame of type ``kind`` (others, such as heartbeats' answers, skipped)."""
    with anyio.fail_after(WAIT_S):
        while True:
            raw = await ws.recv()
            frame: dict[str, Any] = json.loads(raw)
            if frame["type"] == kind:
                return frame


async def test_a_schedule_change_reaches_the_connected_screen(app: Quart, team: Team) -> None:
    device = await claimed_device(team)
    item = await approved_content(team, body="On air")
    playlist = await create_playlist(team, {"content_id": item["id"]})
    headers = {"Authorization": f"Bearer {device['device_secret']}"}
    async with connect(ws_url(app), additional_headers=headers) as ws:
        welcome = await next_frame(ws, "welcome")
        assert welcome["device_id"] == device["device_id"]
        opening = await next_frame(ws, "manifest")
        assert played_content(opening) == set()
        schedule = await create_schedule(team, playlist["id"])
        pushed = await next_frame(ws, "manifest")
        assert pushed["version"] > opening["version"]
        assert played_content(pushed) == {item["id"]}
        assert [c["body"] for c in pushed["content"]] == ["On air"]
        # What the screen got is what the admin API shows.
        shown = await manifest_of(team, device["device_id"])
        assert shown["version"] == pushed["version"]
        assert shown["slices"] == pushed["slices"]
        # The screen acknowledges; the acknowledgement is stored (batched).
        await ws.send(json.dumps({"type": "ack", "manifest_version": pushed["version"]}))

        async def acked() -> bool:
            return (await manifest_of(team, device["device_id"]))["acked_version"] is not None

        await eventually(acked, timeout_s=WAIT_S, every_s=0.05)
        assert (await manifest_of(team, device["device_id"]))["acked_version"] == pushed["version"]
        # Deleting the schedule pushes the idle manifest again, as a newer version.
        response = await delete(team.scheduler, f"{team.base}/schedules/{schedule['id']}")
        assert response.status_code == 204
        idle = await next_frame(ws, "manifest")
        assert idle["version"] > pushed["version"]
        assert played_content(idle) == set()


async def test_approval_and_archive_reach_the_screen(app: Quart, team: Team) -> None:
    device = await claimed_device(team)
    item = await approved_content(team, body="first words")
    playlist = await create_playlist(team, {"content_id": item["id"]})
    await create_schedule(team, playlist["id"])
    headers = {"Authorization": f"Bearer {device['device_secret']}"}
    async with connect(ws_url(app), additional_headers=headers) as ws:
        opening = await next_frame(ws, "manifest")
        assert [c["body"] for c in opening["content"]] == ["first words"]
        path = f"{team.base}/content/{item['id']}"
        await ok(await team.editor.patch(path, {"body": "second words"}))
        await ok(await team.editor.post(f"{path}/submit"))
        await ok(await team.approver.post(f"{path}/approve"))
        approved = await next_frame(ws, "manifest")
        assert [c["body"] for c in approved["content"]] == ["second words"]
        await ok(await team.editor.post(f"{path}/archive"))
        archived = await next_frame(ws, "manifest")
        assert played_content(archived) == set()
        assert archived["version"] > approved["version"] > opening["version"]


async def test_a_reconnecting_screen_gets_the_newest_manifest_at_once(
    app: Quart, team: Team
) -> None:
    device = await claimed_device(team, groups=("lobby",))
    item = await approved_content(team)
    playlist = await create_playlist(team, {"content_id": item["id"]})
    await create_schedule(team, playlist["id"], target={"groups": ["lobby"]})
    # Changed while the screen was away: it learns on connect, without waiting.
    await ok(await team.manager.patch(f"{team.base}/devices/{device['device_id']}", {"groups": []}))
    await settled(app)
    expected = await manifest_of(team, device["device_id"])
    assert played_content(expected) == set()
    headers = {"Authorization": f"Bearer {device['device_secret']}"}
    async with connect(ws_url(app), additional_headers=headers) as ws:
        opening = await next_frame(ws, "manifest")
    assert opening["version"] == expected["version"]
    assert played_content(opening) == set()
