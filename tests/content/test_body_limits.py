"""Per-route body limits: uploads may be larger than JSON bodies, and every route's limit
holds whether the body is announced (Content-Length) or streamed without one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from actors.settings import Settings
from tests.auth.conftest import peer
from tests.content.conftest import PNG, Team, create_content, ok

pytestmark = pytest.mark.anyio

JSON_LIMIT = 4096


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.updated(max_body_bytes=JSON_LIMIT)


async def streamed(team: Team, method: str, path: str, chunks: list[bytes], kind: str) -> Any:
    """Send ``chunks`` without a Content-Length; the answer's status code."""
    headers = {**team.editor.headers, "Content-Type": kind}
    async with team.editor.client.request(
        path, method=method, headers=headers, scope_base=peer()
    ) as connection:
        for chunk in chunks:
            await connection.send(chunk)
        await connection.send_complete()
    return getattr(connection, "status_code", None)


async def test_an_upload_may_exceed_the_json_limit(team: Team, media_root: Path) -> None:
    item = await create_content(team, kind="image", body=None)
    path = f"{team.base}/content/{item['id']}/media"
    big = PNG + b"\x00" * (4 * JSON_LIMIT)
    assert await streamed(team, "PUT", path, [big[:1000], big[1000:]], "image/png") == 200
    response = await team.editor.client.put(
        path, data=big, headers={**team.editor.headers, "Content-Type": "image/png"}
    )
    assert (await ok(response))["size"] == len(big)


async def test_a_json_body_past_its_limit_is_413_announced_or_streamed(team: Team) -> None:
    body = msgspec.json.encode(
        {"name": "x", "kind": "text", "body": "b" * (2 * JSON_LIMIT), "duration_s": 5}
    )
    path = f"{team.base}/content"
    announced = await team.editor.client.post(
        path, data=body, headers={**team.editor.headers, "Content-Type": "application/json"}
    )
    assert announced.status_code == 413
    chunks = [body[i : i + 1024] for i in range(0, len(body), 1024)]
    assert await streamed(team, "POST", path, chunks, "application/json") == 413
    listed = await ok(await team.viewer.get(path))
    assert listed["items"] == []
