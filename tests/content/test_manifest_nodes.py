"""Two nodes sharing PostgreSQL and Redis: a change made through one node reaches a
screen connected to the other (one notice per node over the relay), and a screen whose
node missed the notice catches up from PostgreSQL."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import anyio
import msgspec
import pytest
from quart import Quart
from websockets.asyncio.client import ClientConnection, connect

from actors.domain.manifest_batch import DeviceScope
from actors.domain.schedule_types import ScheduleEntry
from actors.domain.targets import TenantTarget
from actors.ports.relay import Resync
from actors.settings import Settings
from actors.usecases.manifests import Manifests
from edge.app import create_app
from tests.auth.conftest import container_of
from tests.conftest import REDIS_URL
from tests.content.conftest import (
    Team,
    approved_content,
    claimed_device,
    create_playlist,
    create_schedule,
    manifest_of,
    played_content,
)
from tests.live import served

pytestmark = pytest.mark.anyio

WAIT_S = 10.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Node A (the admin API, through the test client) on a relay of its own run."""
    return settings.updated(
        redis_url=REDIS_URL,
        relay_channel_prefix=f"test-content-{secrets.token_hex(4)}",
        node_id="node-a",
        shutdown_grace_s=1.0,
    )


@pytest.fixture
async def node_b(settings: Settings) -> AsyncIterator[Quart]:
    """Node B, served by a real Hypercorn: the screens connect here."""
    b_settings = settings.updated(node_id="node-b")
    application = create_app(b_settings)
    async with served(application, b_settings) as port:
        application.config["TEST_PORT"] = port
        yield application


async def next_manifest(ws: ClientConnection) -> dict[str, Any]:
    with anyio.fail_after(WAIT_S):
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if frame["type"] == "manifest":
                return frame


def ws_url(node: Quart) -> str:
    return f"ws://127.0.0.1:{node.config['TEST_PORT']}/api/v1/devices/ws"


async def test_a_change_on_one_node_reaches_a_screen_on_another(
    app: Quart, node_b: Quart, team: Team
) -> None:
    device = await claimed_device(team)
    item = await approved_content(team, body="Across nodes")
    playlist = await create_playlist(team, {"content_id": item["id"]})
    headers = {"Authorization": f"Bearer {device['device_secret']}"}
    async with connect(ws_url(node_b), additional_headers=headers) as ws:
        opening = await next_manifest(ws)
        assert played_content(opening) == set()
        await create_schedule(team, playlist["id"])  # through node A
        pushed = await next_manifest(ws)
    assert pushed["version"] > opening["version"]
    assert [c["body"] for c in pushed["content"]] == ["Across nodes"]


class LostNotices:
    """A publisher whose notices never arrive anywhere (Redis lost them)."""

    async def publish(self, tenant_id: UUID, message: msgspec.Struct) -> bool:
        return False


async def test_a_node_that_missed_the_notice_catches_up(
    app: Quart, node_b: Quart, team: Team
) -> None:
    device = await claimed_device(team)
    item = await approved_content(team)
    playlist = await create_playlist(team, {"content_id": item["id"]})
    tenant_id = UUID(team.tenant_id)
    node_a = container_of(app)
    headers = {"Authorization": f"Bearer {device['device_secret']}"}
    async with connect(ws_url(node_b), additional_headers=headers) as ws:
        opening = await next_manifest(ws)
        # A schedule is stored and the manifests recomputed, but the notice is lost.
        entry = ScheduleEntry(
            id=uuid4(),
            playlist_id=UUID(playlist["id"]),
            target=TenantTarget(),
            priority=1,
            created_at=datetime.now(UTC),
        )
        async with node_a.store.tenant(tenant_id) as tx:
            await tx.schedules.create(tenant_id, entry, created_by=UUID(team.scheduler.user_id))
        silent = Manifests(node_a.store, LostNotices(), node_a.manifests.policy)
        await silent.recompute(tenant_id, DeviceScope.all())
        stored = await manifest_of(team, device["device_id"])
        assert stored["version"] > opening["version"]
        # Node B reconciles with PostgreSQL (as after a relay gap, or every minute).
        for ref in container_of(node_b).sessions.tenants():
            ref.tell(Resync(reason="test: a notice was lost"))
        caught_up = await next_manifest(ws)
    assert caught_up["version"] == stored["version"]
    assert played_content(caught_up) == {item["id"]}


async def test_a_screen_reopening_after_another_nodes_change_opens_with_it(
    app: Quart, node_b: Quart, team: Team
) -> None:
    # Node B caches its tenant's frames for openings; another node's notice must drop
    # them, or a screen reconnecting to B would open with the manifest before the change.
    watcher = await claimed_device(team, name="watcher")
    returning = await claimed_device(team, name="returning")
    item = await approved_content(team, body="After the change")
    playlist = await create_playlist(team, {"content_id": item["id"]})
    watching = {"Authorization": f"Bearer {watcher['device_secret']}"}
    back = {"Authorization": f"Bearer {returning['device_secret']}"}
    async with connect(ws_url(node_b), additional_headers=watching) as ws:
        before = await next_manifest(ws)
        async with connect(ws_url(node_b), additional_headers=back) as away:
            left_with = await next_manifest(away)
        await create_schedule(team, playlist["id"])  # through node A, for every screen
        changed = await next_manifest(ws)  # B has handled A's notice
        async with connect(ws_url(node_b), additional_headers=back) as again:
            opening = await next_manifest(again)
    assert changed["version"] > before["version"]
    assert opening["version"] == changed["version"] > left_with["version"]
    assert [c["body"] for c in opening["content"]] == ["After the change"]
