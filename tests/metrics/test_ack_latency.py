"""The trigger-to-ack latency histogram: one observation per screen and emergency, the
seconds from the emergency's start to the screen's first ack."""

from __future__ import annotations

from typing import Any

import pytest
from quart import Quart

from tests.auth.conftest import Caller
from tests.emergencies.conftest import Connect, trigger
from tests.metrics.conftest import Scrape, scrape
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

WAIT_S = 5.0


async def test_each_screens_first_ack_is_one_trigger_to_ack_observation(
    app: Quart, approved: Any, play: Connect, operator: Caller, tenant: dict[str, Any]
) -> None:
    count = "signage_emergency_ack_latency_seconds_count"

    scraped: list[Scrape] = []

    async def shows(name: str, value: float) -> bool:
        """Whether a fresh scrape shows ``value`` for ``name`` (kept for the assertions)."""
        scraped.append(await scrape(app))
        return scraped[-1].value(name) == value

    lobby, hall = await approved("Lobby"), await approved("Hall")
    async with play(lobby) as first, play(hall) as second:
        fire = await trigger(operator, tenant)
        for player in (first, second):
            assert (await player.emergency())["id"] == fire["id"]
            await player.ack(fire["id"])
        # Acks are written in batches.
        await eventually(lambda: shows(count, 2), timeout_s=WAIT_S, every_s=0.05)
        await first.ack(fire["id"])  # a repeat, after the first was stored
        drill = await trigger(operator, tenant, message="Drill")
        assert (await first.emergency())["id"] == drill["id"]
        await first.ack(drill["id"])
        written = "signage_emergency_acks_written_total"
        await eventually(lambda: shows(written, 3), timeout_s=WAIT_S, every_s=0.05)
    found = scraped[-1]  # the scrape that showed all three written
    assert found.value("signage_device_acks_total", kind="emergency") == 4
    assert found.value(count) == 3  # one per screen and emergency: the repeat is not one
    total = found.value("signage_emergency_ack_latency_seconds_sum")
    assert total is not None
    assert 0 <= total < 3 * WAIT_S
    assert found.value("signage_emergency_ack_latency_seconds_bucket", le="+Inf") == 3
