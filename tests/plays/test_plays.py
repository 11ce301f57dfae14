"""Proof of play end to end: screens report plays in ``played`` frames over their session
(validated, rate-limited), the node writes them in batches rolled up per hour, repeats
are not counted twice, and reports per content, device, group and day (JSON and CSV)
show them to the tenant's viewers only."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import psycopg
import pytest

from actors.domain.rbac import Role
from actors.protocol import ProtocolError, decode_inbound
from actors.settings import Settings
from tests.auth.conftest import Caller
from tests.devices.conftest import Screen
from tests.waiting import polled

pytestmark = pytest.mark.anyio

NewUser = Callable[..., Awaitable[Caller]]
WAIT_S = 5.0


def item(content_id: str, started_at: datetime, duration_ms: int = 10_000) -> dict[str, Any]:
    return {
        "content_id": content_id,
        "started_at": started_at.isoformat(),
        "duration_ms": duration_ms,
    }


async def new_content(editor: Caller, tenant: dict[str, Any], name: str) -> str:
    response = await editor.post(
        f"/api/v1/tenants/{tenant['id']}/content",
        {"name": name, "kind": "text", "body": name, "duration_s": 10},
    )
    body = await response.get_json()
    assert response.status_code == 201, body
    return str(body["id"])


async def report(caller: Caller, tenant: dict[str, Any], **params: str) -> Any:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = await caller.get(f"/api/v1/tenants/{tenant['id']}/plays?{query}")
    body = await response.get_json()
    assert response.status_code == 200, body
    return body


async def report_when(caller: Caller, tenant: dict[str, Any], total: int, **params: str) -> Any:
    return await polled(
        lambda: report(caller, tenant, **params),
        lambda body: sum(row["plays"] for row in body["items"]) >= total,
        timeout_s=WAIT_S,
    )


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "played", "items": []},
        {
            "type": "played",
            "items": [{"content_id": "x", "started_at": "2026-01-01T00:00:00Z", "duration_ms": 1}],
        },
        {
            "type": "played",
            "items": [
                {
                    "content_id": "00000000-0000-0000-0000-000000000001",
                    "started_at": "2026-01-01T00:00:00",
                    "duration_ms": 1,
                }
            ],
        },
        {
            "type": "played",
            "items": [
                {
                    "content_id": "00000000-0000-0000-0000-000000000001",
                    "started_at": "2026-01-01T00:00:00Z",
                    "duration_ms": -1,
                }
            ],
        },
        {
            "type": "played",
            "items": [
                {
                    "content_id": "00000000-0000-0000-0000-000000000001",
                    "started_at": "2026-01-01T00:00:00Z",
                    "duration_ms": 86_400_001,
                }
            ],
        },
        {
            "type": "played",
            "items": [
                {
                    "content_id": "00000000-0000-0000-0000-000000000001",
                    "started_at": "2026-01-01T00:00:00Z",
                    "duration_ms": 1,
                    "extra": 1,
                }
            ],
        },
        {
            "type": "played",
            "items": [
                {
                    "content_id": "00000000-0000-0000-0000-000000000001",
                    "started_at": "2026-01-01T00:00:00Z",
                    "duration_ms": 1,
                }
            ]
            * 21,
        },
    ],
    ids=["empty", "bad-id", "naive-time", "negative", "too-long", "unknown-field", "21-items"],
)
def test_malformed_played_frames_are_protocol_errors(frame: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError):
        decode_inbound(json.dumps(frame))


async def test_plays_reported_over_the_session_are_counted_once_and_reported(
    tenant: dict[str, Any],
    other_tenant: dict[str, Any],
    approved: Any,
    play: Any,
    new_user: NewUser,
    settings: Settings,
) -> None:
    editor = await new_user(tenant["id"], Role.EDITOR)
    menu = await new_content(editor, tenant, "Menu")
    promo = await new_content(editor, tenant, "=HYPERLINK(evil)")
    stranger_editor = await new_user(other_tenant["id"], Role.EDITOR)
    foreign = await new_content(stranger_editor, other_tenant, "Theirs")
    viewer = await new_user(tenant["id"], Role.VIEWER)
    lobby: Screen = await approved("Lobby", groups=("hall", "ground"))
    bar: Screen = await approved("Bar", groups=("hall",))
    now = datetime.now(UTC).replace(microsecond=0)
    t0 = now - timedelta(hours=2)
    lobby_items = [item(menu, t0 + timedelta(seconds=10 * n)) for n in range(5)]
    lobby_items += [
        item(promo, t0 + timedelta(seconds=60)),
        item(foreign, t0 + timedelta(seconds=70)),
    ]
    async with play(lobby) as player:
        frame = json.dumps({"type": "played", "items": lobby_items})
        await player.ws.send(frame)
        await player.ws.send(frame)  # a repeat: not counted twice
        await report_when(viewer, tenant, 6)
    async with play(bar) as player:
        await player.ws.send(
            json.dumps({"type": "played", "items": [item(menu, now - timedelta(minutes=5), 7_000)]})
        )
        # Too old and too far ahead: not counted.
        await player.ws.send(
            json.dumps(
                {
                    "type": "played",
                    "items": [
                        item(menu, now - timedelta(days=8)),
                        item(menu, now + timedelta(hours=1)),
                    ],
                }
            )
        )
        await report_when(viewer, tenant, 7)
    by_content = await report(viewer, tenant, by="content")
    rows = {row["key"]: row for row in by_content["items"]}
    assert set(rows) == {menu, promo}  # the other tenant's item is not this tenant's play
    assert (rows[menu]["plays"], rows[menu]["duration_ms"]) == (6, 57_000)
    assert rows[menu]["name"] == "Menu"
    assert rows[promo]["plays"] == 1
    by_device = await report(viewer, tenant, by="device")
    assert {r["name"]: r["plays"] for r in by_device["items"]} == {"Lobby": 6, "Bar": 1}
    by_group = await report(viewer, tenant, by="group")
    assert {r["key"]: r["plays"] for r in by_group["items"]} == {"hall": 7, "ground": 6}
    by_day = await report(viewer, tenant, by="day")
    assert sum(r["plays"] for r in by_day["items"]) == 7
    assert by_day["items"][-1]["key"] == now.date().isoformat() or len(by_day["items"]) == 2
    only_bar = await report(viewer, tenant, by="content", device_id=bar.device_id)
    assert [(r["key"], r["plays"]) for r in only_bar["items"]] == [(menu, 1)]

    export = await viewer.get(f"/api/v1/tenants/{tenant['id']}/plays/export?by=content")
    assert export.status_code == 200
    assert export.content_type.startswith("text/csv")
    table = list(csv.reader(io.StringIO(await export.get_data(as_text=True))))
    assert table[0] == ["key", "name", "plays", "duration_ms"]
    assert [menu, "Menu", "6", "57000"] in table
    assert [promo, "'=HYPERLINK(evil)", "1", "10000"] in table  # no formula for spreadsheets

    assert settings.database.url is not None
    with psycopg.connect(settings.database.url) as conn:
        hours = conn.execute("SELECT count(*) FROM play_hours").fetchone()
    assert hours == (3,)  # lobby x menu, lobby x promo, bar x menu: one row per hour each


async def test_reports_are_the_tenants_own_and_validate_their_period(
    tenant: dict[str, Any], other_tenant: dict[str, Any], new_user: NewUser
) -> None:
    stranger = await new_user(other_tenant["id"], Role.TENANT_ADMIN)
    assert (await stranger.get(f"/api/v1/tenants/{tenant['id']}/plays")).status_code == 404
    viewer = await new_user(tenant["id"], Role.VIEWER)
    base = f"/api/v1/tenants/{tenant['id']}/plays"
    body = await (await viewer.get(base)).get_json()
    assert body["items"] == []
    assert body["by"] == "content"
    for bad in (
        "first_day=2026-02-02&last_day=2026-02-01",
        "first_day=2020-01-01&last_day=2026-01-01",
        "by=week",
        "first_day=yesterday",
    ):
        response = await viewer.get(f"{base}?{bad}")
        assert response.status_code == 422, bad


async def test_a_screen_reporting_more_than_its_budget_is_told_then_closed(
    tenant: dict[str, Any], approved: Any, play: Any, new_user: NewUser
) -> None:
    editor = await new_user(tenant["id"], Role.EDITOR)
    menu = await new_content(editor, tenant, "Menu")
    screen: Screen = await approved("Flood")
    start = datetime.now(UTC) - timedelta(hours=1)
    async with play(screen) as player:
        answers = []
        for batch in range(4):  # the budget is 40 items; 20 a frame
            items = [item(menu, start + timedelta(seconds=batch * 20 + n)) for n in range(20)]
            await player.ws.send(json.dumps({"type": "played", "items": items}))
        with anyio.fail_after(WAIT_S):
            while True:
                frame = await player.next()
                answers.append(frame)
                if frame["type"] == "error":
                    break
    assert "more items than allowed" in answers[-1]["detail"]
