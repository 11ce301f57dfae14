"""Every list of the API pages one way: ``limit`` and ``cursor`` in, ``next_cursor`` out.

A walk that follows ``next_cursor`` sees every row exactly once, in the list's order, and
ends on a page whose ``next_cursor`` is null; rows added meanwhile ahead of the position
never shift the next page; a cursor that was not issued for that very list is a 422.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from actors.pagination import DEFAULT_LIMIT, MAX_LIMIT
from actors.settings import Settings
from tests.auth.conftest import Caller
from tests.content.conftest import (
    Team,
    approved_content,
    create_content,
    create_playlist,
    create_schedule,
    ok,
)

pytestmark = pytest.mark.anyio


async def walk(caller: Caller, path: str, limit: int, **params: str) -> list[dict[str, Any]]:
    """Every item of a list, page by page; checks the shape of every page."""
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(200):
        query = {"limit": str(limit), **params}
        if cursor is not None:
            query["cursor"] = cursor
        page = await ok(await caller.get(path, query_string=query))
        assert len(page["items"]) <= limit
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
        assert len(page["items"]) == limit  # only the last page is short
    raise AssertionError("the walk did not end")


async def insert_devices(settings: Settings, tenant_id: str, names: list[str]) -> list[UUID]:
    """Claimed devices straight into the table (registration is rate-limited)."""
    ids = [uuid4() for _ in names]
    assert settings.database.url is not None
    async with await psycopg.AsyncConnection.connect(settings.database.url) as conn:
        await conn.cursor().executemany(
            "INSERT INTO devices (id, tenant_id, status, secret_hash, hardware_id,"
            " registered_from, name) VALUES (%s, %s, 'approved', %s, %s, '192.0.2.1', %s)",
            [
                (i, tenant_id, secrets.token_bytes(32), f"hw-{i}", name)
                for i, name in zip(ids, names, strict=True)
            ],
        )
    return ids


def _devices(team: Team) -> str:
    return f"{team.base}/devices"


async def test_devices_page_by_name_then_id_and_the_last_page_says_so(
    team: Team, settings: Settings
) -> None:
    names = ["b", "a", "c", "a", "b", "a", "d"]
    ids = await insert_devices(settings, team.tenant_id, names)
    expected = [str(i) for _, i in sorted(zip(names, ids, strict=True))]
    walked = await walk(team.viewer, _devices(team), 3)
    assert [d["id"] for d in walked] == expected
    # A page that ends exactly at the last row is the last page: no empty page after it.
    whole = await ok(await team.viewer.get(_devices(team), query_string={"limit": "7"}))
    assert len(whole["items"]) == 7
    assert whole["next_cursor"] is None


async def test_devices_without_a_limit_come_in_pages_of_the_default_size(
    team: Team, settings: Settings
) -> None:
    await insert_devices(settings, team.tenant_id, [f"screen {n:03}" for n in range(105)])
    first = await ok(await team.viewer.get(_devices(team)))
    assert len(first["items"]) == DEFAULT_LIMIT
    assert first["next_cursor"] is not None
    rest = await ok(
        await team.viewer.get(_devices(team), query_string={"cursor": first["next_cursor"]})
    )
    assert [d["name"] for d in rest["items"]] == [f"screen {n:03}" for n in range(100, 105)]
    assert rest["next_cursor"] is None


async def test_rows_added_ahead_of_the_position_do_not_shift_the_next_page(
    team: Team, settings: Settings
) -> None:
    await insert_devices(settings, team.tenant_id, ["b1", "b2", "b3", "b4"])
    first = await ok(await team.viewer.get(_devices(team), query_string={"limit": "2"}))
    assert [d["name"] for d in first["items"]] == ["b1", "b2"]
    await insert_devices(settings, team.tenant_id, ["a0", "b1a", "b2a"])
    second = await ok(
        await team.viewer.get(
            _devices(team), query_string={"limit": "2", "cursor": first["next_cursor"]}
        )
    )
    # Rows before the position are not repeated; a row after it is met in order.
    assert [d["name"] for d in second["items"]] == ["b2a", "b3"]


async def _refused(caller: Caller, path: str, **query: str) -> dict[str, Any]:
    response = await caller.get(path, query_string=query)
    body: dict[str, Any] = await response.get_json()
    assert response.status_code == 422, body
    assert response.content_type == "application/problem+json"
    return body


async def test_a_cursor_not_issued_for_this_very_list_is_a_422_naming_cursor(
    team: Team,
    settings: Settings,
    new_tenant: Callable[..., Awaitable[dict[str, Any]]],
    admin: Caller,
) -> None:
    await insert_devices(settings, team.tenant_id, ["a", "b", "c"])
    page = await ok(await team.viewer.get(_devices(team), query_string={"limit": "1"}))
    cursor = page["next_cursor"]
    payload, mac = cursor.split(".")
    tampered = f"{payload[:-2]}{'AA' if payload[-2:] != 'AA' else 'BB'}.{mac}"
    for bad in (tampered, f"{payload}.{mac[::-1]}", "not-a-cursor", "a.b", "x" * 600):
        body = await _refused(team.viewer, _devices(team), cursor=bad)
        assert body["field"] == "cursor", body
    other = await new_tenant()
    assert (await _refused(admin, f"/api/v1/tenants/{other['id']}/devices", cursor=cursor))[
        "field"
    ] == "cursor"
    assert (await _refused(team.viewer, f"{team.base}/playlists", cursor=cursor))[
        "field"
    ] == "cursor"


@pytest.mark.parametrize("limit", ["0", "-1", str(MAX_LIMIT + 1), "ten"])
async def test_a_limit_out_of_bounds_is_a_422_naming_limit(team: Team, limit: str) -> None:
    body = await _refused(team.viewer, _devices(team), limit=limit)
    assert body["field"] == "limit"


async def test_a_cursor_is_bound_to_the_filters_it_was_made_with(team: Team) -> None:
    for _ in range(3):
        await create_content(team)
    page = await ok(
        await team.viewer.get(f"{team.base}/content", query_string={"limit": "1", "state": "draft"})
    )
    body = await _refused(
        team.viewer, f"{team.base}/content", cursor=page["next_cursor"], state="approved"
    )
    assert body["field"] == "cursor"


async def test_the_deprecated_content_offset_still_works_but_not_with_a_cursor(
    team: Team,
) -> None:
    created = [await create_content(team) for _ in range(4)]
    newest_first = [c["id"] for c in reversed(created)]
    skipped = await ok(
        await team.viewer.get(f"{team.base}/content", query_string={"offset": "1", "limit": "2"})
    )
    assert [c["id"] for c in skipped["items"]] == newest_first[1:3]
    body = await _refused(
        team.viewer, f"{team.base}/content", offset="1", cursor=skipped["next_cursor"]
    )
    assert body["field"] == "offset"


async def test_the_deprecated_audit_before_still_bounds_the_page(team: Team, admin: Caller) -> None:
    for _ in range(3):
        await create_content(team)
    entries = await walk(admin, f"{team.base}/audit", 2)
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs, reverse=True)
    assert len(seqs) >= 3
    bounded = await ok(await admin.get(f"{team.base}/audit", query_string={"before": str(seqs[0])}))
    assert [e["seq"] for e in bounded["items"]] == seqs[1:]


async def _revisions(team: Team) -> str:
    item = await create_content(team)
    path = f"{team.base}/content/{item['id']}"
    for n in range(2):  # two rejections, each followed by an edit: three revisions
        await ok(await team.editor.post(f"{path}/submit"))
        await ok(await team.approver.post(f"{path}/reject", {"reason": "again"}))
        await ok(await team.editor.patch(path, {"name": f"Edited {n}"}))
    return f"{path}/revisions"


async def _nodes(settings: Settings) -> None:
    assert settings.database.url is not None
    now = datetime.now(UTC)
    async with await psycopg.AsyncConnection.connect(settings.database.url) as conn:
        for n in range(3):
            await conn.execute(
                "INSERT INTO nodes (node_id, started_at, last_seen_at, sessions)"
                " VALUES (%s, %s, %s, 0)",
                (f"paging-node-{n}", now - timedelta(minutes=n), now),
            )


async def test_every_list_pages_the_same_way(
    team: Team,
    admin: Caller,
    settings: Settings,
    new_tenant: Callable[..., Awaitable[dict[str, Any]]],
) -> None:
    """Each list, walked two rows at a time, is the list read in one page."""
    for _ in range(2):
        await new_tenant()
    await insert_devices(settings, team.tenant_id, ["x", "y", "z"])
    content = [await approved_content(team) for _ in range(3)]
    playlists = [
        await create_playlist(team, {"content_id": content[0]["id"]}, name=f"List {n}")
        for n in range(3)
    ]
    for playlist in playlists:
        await create_schedule(team, playlist["id"])
    for n in range(3):
        await ok(
            await admin.post(
                f"{team.base}/emergencies",
                {"message": f"Drill {n}", "severity": "info", "target": {"all": True}},
            ),
            201,
        )
    revisions = await _revisions(team)
    await _nodes(settings)
    lists = [
        ("/api/v1/tenants", {}),
        (f"{team.base}/users", {}),
        (f"{team.base}/devices", {}),
        (f"{team.base}/content", {}),
        (f"{team.base}/content", {"state": "approved"}),
        (revisions, {}),
        (f"{team.base}/playlists", {}),
        (f"{team.base}/schedules", {}),
        (f"{team.base}/emergencies", {}),
        (f"{team.base}/emergencies", {"active": "true"}),
        (f"{team.base}/audit", {}),
        (f"{team.base}/audit", {"action": "content.create"}),
        ("/api/v1/audit", {}),
        ("/api/v1/ops/nodes", {}),
    ]
    for path, filters in lists:
        whole = await ok(await admin.get(path, query_string={"limit": str(MAX_LIMIT), **filters}))
        assert whole["next_cursor"] is None, path
        assert len(whole["items"]) >= 3, (path, whole["items"])
        assert await walk(admin, path, 2, **filters) == whole["items"], path


async def test_active_false_lists_only_the_ended_emergencies(team: Team, admin: Caller) -> None:
    base = f"{team.base}/emergencies"
    started = []
    for n in range(3):
        body = {"message": f"Drill {n}", "severity": "info", "target": {"all": True}}
        started.append(await ok(await admin.post(base, body), 201))
    await ok(await admin.post(f"{base}/{started[1]['id']}/clear"))
    ended = await walk(admin, base, 1, active="false")
    assert [e["id"] for e in ended] == [started[1]["id"]]
    active = await walk(admin, base, 1, active="true")
    assert [e["id"] for e in active] == [started[2]["id"], started[0]["id"]]
