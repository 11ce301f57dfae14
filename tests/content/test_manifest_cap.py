"""The manifest size limit against a small MANIFEST_MAX_BYTES (issue 14, M2): approving a
longer body and editing a playlist are refused at the write that would pass it; a
recomputation that still finds a document too big leaves devices on the one they have."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec
import pytest
from quart import Quart

from actors.domain.manifest_batch import DeviceScope
from actors.settings import Settings
from actors.usecases.manifests import ManifestPolicy, Manifests, plan_scope
from tests.auth.conftest import container_of
from tests.content.conftest import (
    Team,
    approved_content,
    claimed_device,
    create_playlist,
    create_schedule,
    manifest_of,
    ok,
    put_json,
    settled,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.updated(manifest_max_bytes=16_000)


async def scheduled(team: Team, *bodies: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    items = [await approved_content(team, body=body) for body in bodies]
    playlist = await create_playlist(team, *({"content_id": item["id"]} for item in items))
    await create_schedule(team, playlist["id"])
    return playlist, items


async def test_approving_a_longer_body_that_would_pass_the_manifest_limit_is_409(
    app: Quart, team: Team
) -> None:
    device = await claimed_device(team)
    _, (item,) = await scheduled(team, "short")
    await ok(await team.editor.patch(f"{team.base}/content/{item['id']}", {"body": "y" * 20_000}))
    await ok(await team.editor.post(f"{team.base}/content/{item['id']}/submit"))
    refused = await team.approver.post(f"{team.base}/content/{item['id']}/approve")
    problem = await refused.get_json()
    assert refused.status_code == 409, problem
    assert "MANIFEST_MAX_BYTES" in problem["detail"]
    shown = await ok(await team.viewer.get(f"{team.base}/content/{item['id']}"))
    assert shown["state"] == "pending_approval"
    await settled(app)
    manifest = await manifest_of(team, device["device_id"])
    assert [c["body"] for c in manifest["content"]] == ["short"]


async def test_a_playlist_edit_that_would_pass_the_manifest_limit_is_409(team: Team) -> None:
    await claimed_device(team)
    playlist, items = await scheduled(team, "a" * 6_000)
    more = [await approved_content(team, body=c * 6_000) for c in "bc"]
    entries = [{"content_id": i["id"]} for i in [*items, *more]]
    refused = await put_json(
        team.editor, f"{team.base}/playlists/{playlist['id']}", {"name": "Loop", "items": entries}
    )
    assert refused.status_code == 409
    assert "MANIFEST_MAX_BYTES" in (await refused.get_json())["detail"]


async def test_a_manifest_that_time_makes_too_big_is_not_sent(app: Quart, team: Team) -> None:
    """The write-time checks plan from now; a recomputation that still finds a document
    over the limit leaves the devices on the one they have."""
    device = await claimed_device(team)
    await scheduled(team, "z" * 4_000)
    await settled(app)
    did = UUID(device["device_id"])
    before = await manifest_of(team, device["device_id"])
    container = container_of(app)
    tight = msgspec.structs.replace(
        ManifestPolicy.from_settings(container.settings), max_bytes=1_000
    )
    published: list[object] = []

    class Events:
        async def publish(self, tenant_id: UUID, message: msgspec.Struct) -> bool:
            published.append(message)
            return True

    # Two hours on, the horizon has moved: every device gets a new document...
    later = datetime.now(UTC) + timedelta(hours=2)
    roomy = Manifests(container.store, Events(), ManifestPolicy.from_settings(container.settings))
    async with container.store.tenant(UUID(team.tenant_id)) as tx:
        plan = await plan_scope(
            tx,
            UUID(team.tenant_id),
            DeviceScope.devices(did),
            roomy.policy,
            later,
            stored_hashes=True,
        )
    assert plan is not None
    assert did in plan.changed
    # ...but under a limit it passes, none is stored, announced or sent.
    manifests = Manifests(container.store, Events(), tight, clock=lambda: later)
    result = await manifests.recompute(UUID(team.tenant_id), DeviceScope.devices(did))
    assert (result.changed, result.version, published) == (0, None, [])
    after = await manifest_of(team, device["device_id"])
    assert after["version"] == before["version"]
