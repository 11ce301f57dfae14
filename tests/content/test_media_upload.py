"""Media uploads: streamed to MEDIA_ROOT/<tenant>/<sha256>, checked by their first bytes,
size-limited, atomic — and nothing left behind by a refused or interrupted upload."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.auth.conftest import peer
from tests.content.conftest import (
    JPEG,
    MP4,
    PNG,
    UPLOAD_LIMIT,
    Team,
    approved_content,
    create_content,
    ok,
    put,
)
from tests.waiting import eventually

pytestmark = pytest.mark.anyio


def files_under(root: Path) -> list[Path]:
    """Every regular file below ``root`` (partial uploads included)."""
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def image(team: Team) -> tuple[str, str]:
    item = await create_content(team, kind="image", body=None)
    return item["id"], f"{team.base}/content/{item['id']}/media"


async def test_an_upload_is_stored_under_its_hash(team: Team, media_root: Path) -> None:
    content_id, path = await image(team)
    stored = await ok(await put(team.editor, path, PNG, "image/png"))
    digest = hashlib.sha256(PNG).hexdigest()
    assert stored == {
        "sha256": digest,
        "size": len(PNG),
        "media_type": "image/png",
        "revision": 1,
        "state": "draft",
    }
    final = media_root / team.tenant_id / digest
    assert files_under(media_root) == [final]
    assert final.read_bytes() == PNG
    item = await ok(await team.viewer.get(f"{team.base}/content/{content_id}"))
    assert (item["media_sha256"], item["media_type"], item["media_size"]) == (
        digest,
        "image/png",
        len(PNG),
    )
    # Once uploaded, the item can be submitted (a media item needs its file).
    await ok(await team.editor.post(f"{team.base}/content/{content_id}/submit"))


async def test_media_content_cannot_be_submitted_without_its_file(team: Team) -> None:
    content_id, _ = await image(team)
    response = await team.editor.post(f"{team.base}/content/{content_id}/submit")
    assert response.status_code == 409


async def test_the_same_bytes_twice_are_one_file(team: Team, media_root: Path) -> None:
    _, first = await image(team)
    _, second = await image(team)
    await ok(await put(team.editor, first, JPEG, "image/jpg"))  # a common alias
    await ok(await put(team.editor, second, JPEG, "application/octet-stream"))
    assert files_under(media_root) == [
        media_root / team.tenant_id / hashlib.sha256(JPEG).hexdigest()
    ]


@pytest.mark.parametrize(
    ("data", "declared"),
    [
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
            "image/svg+xml",
        ),
        (b"GIF89" + b"\x00" * 100, "image/gif"),  # one byte short of a GIF signature
        (PNG, "image/jpeg"),  # the bytes contradict the declared type
        (MP4, "video/mp4"),  # a video is not an image
        (b"", "image/png"),
        (b"\x89PNG", "image/png"),  # a truncated signature
    ],
)
async def test_wrong_bytes_are_415_and_leave_nothing(
    team: Team, media_root: Path, data: bytes, declared: str
) -> None:
    content_id, path = await image(team)
    response = await put(team.editor, path, data, declared)
    assert response.status_code == 415, await response.get_json()
    assert files_under(media_root) == []
    item = await ok(await team.viewer.get(f"{team.base}/content/{content_id}"))
    assert item["media_sha256"] is None


async def test_a_video_item_takes_video_bytes(team: Team, media_root: Path) -> None:
    item = await create_content(team, kind="video", body=None)
    path = f"{team.base}/content/{item['id']}/media"
    assert (await put(team.editor, path, PNG, "image/png")).status_code == 415
    stored = await ok(await put(team.editor, path, MP4, "video/mp4"))
    assert stored["media_type"] == "video/mp4"


async def test_non_media_kinds_take_no_upload(team: Team, media_root: Path) -> None:
    item = await create_content(team, kind="text", body="hello")
    response = await put(team.editor, f"{team.base}/content/{item['id']}/media", PNG, "image/png")
    assert response.status_code == 415
    assert files_under(media_root) == []


async def test_an_announced_oversized_upload_is_413_before_reading(
    team: Team, media_root: Path
) -> None:
    _, path = await image(team)
    response = await put(team.editor, path, PNG + b"\x00" * UPLOAD_LIMIT, "image/png")
    assert response.status_code == 413
    assert files_under(media_root) == []


async def test_a_streamed_upload_past_the_limit_is_413_and_leaves_nothing(
    team: Team, media_root: Path
) -> None:
    _, path = await image(team)
    headers = {**team.editor.headers, "Content-Type": "image/png"}
    chunk = b"\x00" * 8192
    async with team.editor.client.request(
        path, method="PUT", headers=headers, scope_base=peer()
    ) as connection:
        await connection.send(PNG)
        for _ in range(UPLOAD_LIMIT // len(chunk) + 1):
            await connection.send(chunk)
        await connection.send_complete()
    # The block's end waited for the answer (the protocol type does not declare it).
    assert getattr(connection, "status_code", None) == 413
    assert files_under(media_root) == []


async def test_an_interrupted_upload_leaves_nothing(team: Team, media_root: Path) -> None:
    content_id, path = await image(team)
    headers = {**team.editor.headers, "Content-Type": "image/png"}
    async with team.editor.client.request(
        path, method="PUT", headers=headers, scope_base=peer()
    ) as connection:
        await connection.send(PNG)
        # Bounded wait until the server has started writing the partial file...
        await eventually(lambda: files_under(media_root), timeout_s=5, every_s=0.01)
        assert files_under(media_root)[0].suffix == ".part"
        # ...then the client goes away mid-body.
        await connection.disconnect()
    assert files_under(media_root) == []
    item = await ok(await team.viewer.get(f"{team.base}/content/{content_id}"))
    assert item["media_sha256"] is None


async def test_uploading_to_approved_content_makes_a_new_revision(team: Team) -> None:
    item = await approved_content(team, kind="image", body=None)
    path = f"{team.base}/content/{item['id']}"
    stored = await ok(await put(team.editor, f"{path}/media", JPEG, "image/jpeg"))
    assert (stored["revision"], stored["state"]) == (2, "draft")
    now = await ok(await team.viewer.get(path))
    assert now["live_revision"] == 1
    assert now["media_type"] == "image/jpeg"


async def test_uploading_while_pending_is_409(team: Team, media_root: Path) -> None:
    content_id, path = await image(team)
    await ok(await put(team.editor, path, PNG, "image/png"))
    await ok(await team.editor.post(f"{team.base}/content/{content_id}/submit"))
    before = files_under(media_root)
    assert (await put(team.editor, path, JPEG, "image/jpeg")).status_code == 409
    assert files_under(media_root) == before


async def test_only_editors_upload(team: Team, media_root: Path) -> None:
    _, path = await image(team)
    for caller in (team.viewer, team.approver):
        assert (await put(caller, path, PNG, "image/png")).status_code == 403
    assert files_under(media_root) == []


async def test_an_external_address_replaces_an_uploaded_file(team: Team) -> None:
    content_id, path = await image(team)
    await ok(await put(team.editor, path, PNG, "image/png"))
    edited = await ok(
        await team.editor.patch(
            f"{team.base}/content/{content_id}", {"uri": "https://cdn.example.test/a.png"}
        )
    )
    assert edited["uri"] == "https://cdn.example.test/a.png"
    assert edited["media_sha256"] is None
