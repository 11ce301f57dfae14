"""Emergencies end to end over real WebSockets: trigger, receive, acknowledge, report;
clear; expiry; late joiners and ``last_seq``; targeting by group and by device."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.auth.conftest import Caller
from tests.emergencies.conftest import (
    Approve,
    Connect,
    emergencies_of,
    report_when,
    trigger,
)

pytestmark = pytest.mark.anyio


async def test_trigger_reaches_every_screen_and_acks_make_the_report(
    operator: Caller, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    lobby, hall = await approved("Lobby"), await approved("Hall")
    async with play(lobby) as a, play(hall) as b:
        await a.next_of("manifest")
        await b.next_of("manifest")
        started = await trigger(operator, tenant, message="Fire drill", expires_in_s=600)
        assert started["targeted"] == 2
        assert started["seq"] == 1
        for player in (a, b):
            frame = await player.emergency()
            assert frame == {
                "type": "emergency",
                "id": started["id"],
                "seq": started["seq"],
                "message": "Fire drill",
                "severity": "critical",
                "started_at": frame["started_at"],
                "expires_at": frame["expires_at"],
                "mode": "live",
            }
            assert datetime.fromisoformat(frame["started_at"]) == datetime.fromisoformat(
                started["started_at"]
            )
            assert datetime.fromisoformat(frame["expires_at"]) == datetime.fromisoformat(
                started["expires_at"]
            )
            await player.ack(started["id"])
        body = await report_when(operator, tenant, started["id"], lambda d: d["delivered"] == 2)
    delivery = body["delivery"]
    assert delivery["targeted"] == 2
    assert delivery["pending"] == 0
    assert delivery["offline"] == 0
    assert 0 <= delivery["p50_ms"] <= delivery["p99_ms"] < 5_000
    assert body["active"] is True
    assert body["target"] == {"all": True}


async def test_report_tells_pending_from_offline(
    operator: Caller, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    acking, silent = await approved("Acking"), await approved("Silent")
    await approved("Dark")
    async with play(acking) as a, play(silent) as s:
        started = await trigger(operator, tenant)
        await a.emergency()
        await a.ack(started["id"])
        await s.emergency()
        body = await report_when(
            operator,
            tenant,
            started["id"],
            lambda d: d["delivered"] == 1 and d["pending"] == 1,
        )
    assert body["delivery"]["targeted"] == 3
    assert body["delivery"]["offline"] == 1


async def test_group_target_reaches_only_that_group(
    operator: Caller, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    inside = await approved("Lobby", groups=("lobby",))
    outside = await approved("Office", groups=("office",))
    async with play(inside) as a, play(outside) as b:
        lobby_only = await trigger(operator, tenant, target={"groups": ["lobby"]})
        assert lobby_only["targeted"] == 1
        assert (await a.emergency())["id"] == lobby_only["id"]
        # Ordered after the first one: if the office screen had been sent the lobby's,
        # it would be read first.
        everyone = await trigger(operator, tenant, target={"all": True})
        assert (await b.emergency())["id"] == everyone["id"]
        assert (await a.emergency())["id"] == everyone["id"]


async def test_device_target_reaches_only_those_devices(
    operator: Caller, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    chosen, other = await approved("Chosen"), await approved("Other")
    async with play(chosen) as a, play(other) as b:
        one = await trigger(operator, tenant, target={"device_ids": [chosen.device_id]})
        assert one["targeted"] == 1
        assert (await a.emergency())["id"] == one["id"]
        everyone = await trigger(operator, tenant)
        assert (await b.emergency())["id"] == everyone["id"]


async def test_clear_reaches_screens_and_is_idempotent(
    operator: Caller, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    screen = await approved()
    async with play(screen) as player:
        started = await trigger(operator, tenant)
        await player.emergency()
        url = f"{emergencies_of(tenant)}/{started['id']}/clear"
        response = await operator.post(url)
        cleared = await response.get_json()
        assert response.status_code == 200, cleared
        assert cleared["active"] is False
        assert cleared["end_reason"] == "cleared"
        frame = await player.emergency()
        assert frame == {"type": "emergency_clear", "id": started["id"], "seq": 2}
        again = await operator.post(url)
        assert again.status_code == 200
        assert (await again.get_json())["ended_at"] == cleared["ended_at"]
    active = await operator.get(emergencies_of(tenant) + "?active=true")
    assert (await active.get_json())["items"] == []
    every = await operator.get(emergencies_of(tenant))
    assert [e["id"] for e in (await every.get_json())["items"]] == [started["id"]]


async def test_expiry_clears_without_anyone_calling_clear(
    operator: Caller, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    screen = await approved()
    async with play(screen) as player:
        started = await trigger(operator, tenant, expires_in_s=1)
        assert (await player.emergency())["type"] == "emergency"
        frame = await player.emergency(timeout=3.0)
        assert frame == {"type": "emergency_clear", "id": started["id"], "seq": 2}
    response = await operator.get(f"{emergencies_of(tenant)}/{started['id']}")
    body = await response.get_json()
    assert body["end_reason"] == "expired"
    assert body["ended_by"] == "system:emergency-expiry"


async def test_late_joiner_gets_active_emergencies_right_after_welcome(
    operator: Caller, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    screen = await approved()
    first = await trigger(operator, tenant, message="First")
    second = await trigger(operator, tenant, message="Second", severity="warning")
    async with play(screen) as player:
        one, two, then = await player.next(), await player.next(), await player.next()
    assert [one["id"], two["id"]] == [first["id"], second["id"]]
    assert [one["message"], two["message"]] == ["First", "Second"]
    assert then["type"] == "manifest"


async def test_last_seq_skips_what_the_screen_saw_and_clears_what_ended_meanwhile(
    operator: Caller, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    screen = await approved()
    kept = await trigger(operator, tenant, message="Kept")
    gone = await trigger(operator, tenant, message="Gone")
    async with play(screen, last_seq=gone["seq"]) as player:
        # Seen both already: the next frame is the manifest, not a repeat.
        assert (await player.next())["type"] == "manifest"
    response = await operator.post(f"{emergencies_of(tenant)}/{gone['id']}/clear")
    assert response.status_code == 200
    async with play(screen, last_seq=gone["seq"]) as player:
        assert await player.next() == {"type": "emergency_clear", "id": gone["id"], "seq": 3}
        assert (await player.next())["type"] == "manifest"
    async with play(screen, last_seq=0) as player:
        # Seen nothing: only the one still active.
        assert (await player.next())["id"] == kept["id"]
        assert (await player.next())["type"] == "manifest"


async def test_a_last_seq_from_the_future_is_not_trusted(
    operator: Caller, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    screen = await approved()
    started = await trigger(operator, tenant)
    async with play(screen, last_seq=10_000) as player:
        assert (await player.next())["id"] == started["id"]


async def test_regrouped_screen_gains_and_loses_group_emergencies(
    operator: Caller, manager: Caller, tenant: dict[str, Any], approved: Approve, play: Connect
) -> None:
    screen = await approved("Roaming", groups=("office",))
    device = f"/api/v1/tenants/{tenant['id']}/devices/{screen.device_id}"
    async with play(screen) as player:
        lobby = await trigger(operator, tenant, target={"groups": ["lobby"]})
        response = await manager.patch(device, {"groups": ["lobby"]})
        assert response.status_code == 200
        assert (await player.emergency())["id"] == lobby["id"]
        response = await manager.patch(device, {"groups": ["office"]})
        assert response.status_code == 200
        assert await player.emergency() == {
            "type": "emergency_clear",
            "id": lobby["id"],
            "seq": lobby["seq"],
        }
