"""What one tenant can make every node build and push is bounded (issue 14, M2): bodies
are printable text, a playlist's bodies and a device's manifest have a size limit, and the
write that would pass a limit is the one refused (naming it); a manifest that time alone
makes too big is not sent."""

from __future__ import annotations

import pytest

from tests.content.conftest import (
    Team,
    approved_content,
    claimed_device,
    create_content,
    create_playlist,
    ok,
)

pytestmark = pytest.mark.anyio

BODY = 65_536
#: A character JSON escapes to two bytes: the worst printable text can do.
QUOTE = '"'


@pytest.mark.parametrize("bad", ["\x01", "\x1b[2J", "\x7f", "\x85", "\u2028", "\x00"])
async def test_bodies_with_control_characters_are_422(team: Team, bad: str) -> None:
    answer = await team.editor.post(
        f"{team.base}/content",
        {"name": "Ctl", "kind": "text", "body": f"safe {bad} text", "duration_s": 5},
    )
    problem = await answer.get_json()
    assert answer.status_code == 422, problem
    assert problem["field"] == "body"
    item = await create_content(team, kind="html", body="<p>ok</p>")
    edited = await team.editor.patch(f"{team.base}/content/{item['id']}", {"body": f"<p>{bad}"})
    assert edited.status_code == 422


async def test_tabs_and_line_breaks_are_text(team: Team) -> None:
    item = await create_content(team, body="Line one\r\n\tLine two\nÜber 😀")
    assert item["body"] == "Line one\r\n\tLine two\nÜber 😀"


async def test_the_3_9_mb_manifest_reproduction_is_refused(team: Team) -> None:
    """The audit's reproduction: ten approved text items of 65,536 control characters made
    a 3.9 MB manifest frame. The items cannot be made; the same scale of the worst
    printable text passes neither the playlist's limit nor the manifest's."""
    for _ in range(10):
        answer = await team.editor.post(
            f"{team.base}/content",
            {"name": "Blow-up", "kind": "text", "body": "\x01" * BODY, "duration_s": 5},
        )
        assert answer.status_code == 422
    await claimed_device(team)
    worst = [await approved_content(team, body=QUOTE * BODY) for _ in range(10)]
    items = [{"content_id": item["id"]} for item in worst]
    refused = await team.editor.post(f"{team.base}/playlists", {"name": "Big", "items": items})
    problem = await refused.get_json()
    assert refused.status_code == 422, problem
    assert problem["field"] == "items"
    assert "PLAYLIST_MAX_BODY_BYTES" in problem["detail"]
    # Eight fit the playlist's limit (512 KiB) but escape to over a MiB of manifest: the
    # schedule that would send it is refused, and no device gets it.
    playlist = await create_playlist(team, *items[:8])
    answer = await team.scheduler.post(
        f"{team.base}/schedules",
        {"playlist_id": playlist["id"], "target": {"all": True}, "priority": 1},
    )
    problem = await answer.get_json()
    assert answer.status_code == 409, problem
    assert "MANIFEST_MAX_BYTES" in problem["detail"]
    listed = await ok(await team.scheduler.get(f"{team.base}/schedules"))
    assert listed["items"] == []
