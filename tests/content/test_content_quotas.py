"""Per-tenant quotas and the upload deadline (issue 14, M2 and info items): content items
kept, media bytes stored, and the total time one upload may take."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from actors.settings import Settings
from tests.auth.conftest import peer
from tests.content.conftest import JPEG, MP4, PNG, Team, create_content, ok, put

pytestmark = pytest.mark.anyio

MAX_ITEMS = 4
#: Room for two of the test files (128 bytes each), not three.
MEDIA_QUOTA = 300
DEADLINE_S = 0.5


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.updated(
        content_max_items=MAX_ITEMS,
        media_quota_bytes=MEDIA_QUOTA,
        upload_deadline_s=DEADLINE_S,
    )


async def test_content_items_past_the_quota_are_409_naming_it(team: Team) -> None:
    items = [await create_content(team) for _ in range(MAX_ITEMS)]
    refused = await team.editor.post(
        f"{team.base}/content", {"name": "One more", "kind": "text", "body": "x", "duration_s": 5}
    )
    problem = await refused.get_json()
    assert refused.status_code == 409, problem
    assert "CONTENT_MAX_ITEMS" in problem["detail"]
    # Archived items no longer count.
    first = items[0]["id"]
    await ok(await team.editor.post(f"{team.base}/content/{first}/submit"))
    await ok(await team.approver.post(f"{team.base}/content/{first}/approve"))
    await ok(await team.editor.post(f"{team.base}/content/{first}/archive"))
    await create_content(team)


async def upload(team: Team, data: bytes, kind: str, media: str) -> Any:
    item = await create_content(team, kind=kind, body=None)
    return await put(team.editor, f"{team.base}/content/{item['id']}/media", data, media)


async def test_media_bytes_past_the_quota_are_413_naming_it(team: Team) -> None:
    await ok(await upload(team, PNG, "image", "image/png"))
    await ok(await upload(team, JPEG, "image", "image/jpeg"))
    # The same bytes again are stored once: they cost nothing.
    await ok(await upload(team, PNG, "image", "image/png"))
    refused = await upload(team, MP4, "video", "video/mp4")
    problem = await refused.get_json()
    assert refused.status_code == 413, problem
    assert "MEDIA_QUOTA_BYTES" in problem["detail"]


async def test_a_slow_loris_upload_gets_408_within_the_deadline(team: Team) -> None:
    item = await create_content(team, kind="image", body=None)
    path = f"{team.base}/content/{item['id']}/media"
    headers = {**team.editor.headers, "Content-Type": "image/png"}
    started = anyio.current_time()
    async with team.editor.client.request(
        path, method="PUT", headers=headers, scope_base=peer()
    ) as connection:
        await connection.send(PNG)
        # A byte now and then: never idle long enough for the per-read timeout.
        with anyio.move_on_after(DEADLINE_S * 3):
            while True:
                await anyio.sleep(DEADLINE_S / 5)
                await connection.send(b"\x00")
        await connection.send_complete()
        answer = await connection.as_response()
    assert answer.status_code == 408
    assert "UPLOAD_DEADLINE_S" in (await answer.get_json())["detail"]
    assert anyio.current_time() - started < DEADLINE_S * 6
