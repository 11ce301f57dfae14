"""Fixtures for content, playlists, schedules and manifests: a tenant with one user per
role, a private media folder, and helpers that drive the admin API as clients do.

Reuses the admin-API fixtures of ``tests/auth/conftest.py`` (platform admin, tenants,
users, fast password hashing).
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from quart import Quart

from actors.domain.rbac import Role
from actors.settings import Settings
from tests.auth.conftest import (  # noqa: F401 - fixtures re-exported for content tests
    FAST_HASHING,
    Caller,
    admin,
    container_of,
    new_tenant,
    new_user,
    peer,
    tenant,
)
from tests.conftest import make_settings

MEDIA_BASE_URL = "https://media.example.test/files"
UPLOAD_LIMIT = 64 * 1024
SETTLE_S = 10.0

#: The smallest files each accepted format can be recognised by (plus padding).
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 120
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 120
MP4 = b"\x00\x00\x00\x18ftypisom" + b"\x00" * 120


@pytest.fixture
def media_root(tmp_path: Path) -> Path:
    return tmp_path / "media"


@pytest.fixture
def settings(db_clean: str, media_root: Path) -> Settings:
    return make_settings(
        db_clean,
        **FAST_HASHING,
        media_root=str(media_root),
        media_base_url=MEDIA_BASE_URL,
        max_upload_bytes=UPLOAD_LIMIT,
    )


@dataclass
class Team:
    """One user per role of a tenant (two approvers: four eyes need a second pair)."""

    tenant_id: str
    editor: Caller
    approver: Caller
    scheduler: Caller
    viewer: Caller
    manager: Caller

    @property
    def base(self) -> str:
        return f"/api/v1/tenants/{self.tenant_id}"


@pytest.fixture
async def team(
    tenant: dict[str, Any],
    new_user: Callable[..., Awaitable[Caller]],
) -> Team:
    tid = tenant["id"]
    return Team(
        tenant_id=tid,
        editor=await new_user(tid, Role.EDITOR),
        approver=await new_user(tid, Role.APPROVER),
        scheduler=await new_user(tid, Role.SCHEDULER),
        viewer=await new_user(tid, Role.VIEWER),
        manager=await new_user(tid, Role.DEVICE_MANAGER),
    )


async def put(caller: Caller, path: str, data: bytes, content_type: str | None) -> Any:
    headers = dict(caller.headers)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return await caller.client.put(path, data=data, headers=headers, scope_base=peer(caller.ip))


async def put_json(caller: Caller, path: str, json: Any) -> Any:
    return await caller.client.put(
        path, json=json, headers=caller.headers, scope_base=peer(caller.ip)
    )


async def delete(caller: Caller, path: str) -> Any:
    return await caller.client.delete(path, headers=caller.headers, scope_base=peer(caller.ip))


async def ok(response: Any, status: int = 200) -> Any:
    """The JSON body of ``response``, which must have ``status``."""
    data = await response.get_json()
    assert response.status_code == status, data
    return data


_names = itertools.count(1)


async def create_content(team: Team, **fields: Any) -> dict[str, Any]:
    body = {"name": f"Item {next(_names)}", "kind": "text", "body": "Hello", "duration_s": 10}
    body.update(fields)
    return dict(await ok(await team.editor.post(f"{team.base}/content", body), 201))


async def approved_content(team: Team, **fields: Any) -> dict[str, Any]:
    """Create, submit (editor) and approve (approver) a content item."""
    item = await create_content(team, **fields)
    if item["kind"] in ("image", "video") and "uri" not in fields:
        media = PNG if item["kind"] == "image" else MP4
        kind = "image/png" if item["kind"] == "image" else "video/mp4"
        await ok(await put(team.editor, f"{team.base}/content/{item['id']}/media", media, kind))
    await ok(await team.editor.post(f"{team.base}/content/{item['id']}/submit"))
    return dict(await ok(await team.approver.post(f"{team.base}/content/{item['id']}/approve")))


async def create_playlist(team: Team, *items: dict[str, Any], name: str = "Loop") -> dict[str, Any]:
    body = {"name": name, "items": list(items)}
    return dict(await ok(await team.editor.post(f"{team.base}/playlists", body), 201))


async def create_schedule(team: Team, playlist_id: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"playlist_id": playlist_id, "target": {"all": True}, "priority": 1}
    body.update(fields)
    return dict(await ok(await team.scheduler.post(f"{team.base}/schedules", body), 201))


_hardware = itertools.count(1)


async def claimed_device(
    team: Team, name: str = "Lobby", groups: tuple[str, ...] = (), timezone: str = "UTC"
) -> dict[str, Any]:
    """Register a screen and claim it into the team's tenant; returns the registration
    (``device_id``, ``device_secret``)."""
    client = team.manager.client
    registered = await ok(
        await client.post(
            "/api/v1/devices/register",
            json={"hardware_id": f"hw-content-{next(_hardware)}"},
            scope_base=peer("198.51.100.20"),
        ),
        201,
    )
    await ok(
        await team.manager.post(
            f"{team.base}/devices/claim",
            {
                "pairing_code": registered["pairing_code"],
                "name": name,
                "groups": list(groups),
                "timezone": timezone,
            },
        )
    )
    return dict(registered)


async def settled(app: Quart) -> None:
    """Wait until the node's manifest feed has nothing pending (bounded)."""
    with anyio.fail_after(SETTLE_S):
        await container_of(app).manifest_feed.settled()


async def manifest_of(team: Team, device_id: str, caller: Caller | None = None) -> dict[str, Any]:
    who = caller or team.viewer
    return dict(await ok(await who.get(f"{team.base}/devices/{device_id}/manifest")))


def played_content(manifest: dict[str, Any]) -> set[str]:
    """Every content id any slice of ``manifest`` plays."""
    return {item["content_id"] for piece in manifest["slices"] for item in piece["items"]}
