"""The presence service against the real Redis and PostgreSQL: a session opened or ended
on one node is seen by the others at the next announcement (every 0.25 s), not only at
its periodic re-announcement; each live session is announced again one interval after
its last announcement, not every session at every interval."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import cast
from uuid import UUID, uuid4

import pytest

from actors.domain.devices import Presence
from actors.node.presence import LocalPresence, SessionOwner
from actors.services.presence_service import NodePresence, PresenceService
from actors.settings import PresenceSettings
from store import redis_client
from store.presence_redis import RedisPresence
from store.uow import Store
from tests.conftest import REDIS_URL


def _owner() -> SessionOwner:
    """A session's actor, as presence keeps it (only its identity matters here)."""
    return cast(SessionOwner, object())


pytestmark = pytest.mark.anyio


@pytest.fixture
async def shared() -> AsyncIterator[RedisPresence]:
    client = redis_client.connect(REDIS_URL, client_name="test:presence")
    try:
        yield RedisPresence(client, f"t-presence-{secrets.token_hex(4)}")
    finally:
        await client.aclose()


def test_announcements_are_frequent_enough_for_half_a_second() -> None:
    config = PresenceSettings()
    assert 2 * config.announce_every_s <= 0.5 < config.interval_s


async def test_a_new_session_is_announced_at_the_next_tick_not_the_next_full_round(
    store: Store, shared: RedisPresence
) -> None:
    here = LocalPresence("node-a")
    # A full re-announce only once an hour: what other nodes see must come from the
    # announcement of fresh sessions.
    service = PresenceService(
        here,
        shared,
        store,
        started_at=datetime.now(UTC),
        config=PresenceSettings(interval_s=3600.0),
    )
    elsewhere = NodePresence(LocalPresence("node-b"), shared)
    await service.tick()  # the first round (a full one)

    tenant, device = uuid4(), uuid4()
    owner = _owner()
    here.connected(tenant, device, owner)
    assert await elsewhere.lookup(tenant, [device]) == {}
    await service.tick()
    seen = await elsewhere.lookup(tenant, [device])
    assert seen[device].node_id == "node-a"

    here.disconnected(device, owner)
    await service.tick()
    assert await elsewhere.lookup(tenant, [device]) == {}


def test_a_session_that_ends_before_its_time_is_written_keeps_it_for_the_next_batch() -> None:
    times = iter(datetime(2026, 1, 1, 0, 0, s, tzinfo=UTC) for s in range(10))
    local = LocalPresence("node-a", clock=lambda: next(times))
    tenant, device, owner = uuid4(), uuid4(), _owner()
    local.connected(tenant, device, owner)
    local.seen(device)  # second 1
    local.disconnected(device, owner)
    assert local.take_seen() == [(device, datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC), "node-a")]
    assert local.take_seen() == []


def test_a_reconnect_writes_one_time_per_device_the_newest() -> None:
    times = iter(datetime(2026, 1, 1, 0, 0, s, tzinfo=UTC) for s in range(10))
    local = LocalPresence("node-a", clock=lambda: next(times))
    tenant, device, first, second = uuid4(), uuid4(), _owner(), _owner()
    local.connected(tenant, device, first)  # second 0
    local.disconnected(device, first)
    local.connected(tenant, device, second)  # second 1
    assert local.take_seen() == [(device, datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC), "node-a")]


class RecordingPresence:
    """The shared presence as the list of each batch announced (device ids)."""

    def __init__(self) -> None:
        self.batches: list[list[UUID]] = []

    async def publish(
        self, node_id: str, live: Sequence[tuple[UUID, UUID, datetime]], ttl_s: int
    ) -> None:
        self.batches.append([device_id for _tenant, device_id, _seen in live])

    async def forget(self, node_id: str, gone: Sequence[tuple[UUID, UUID]]) -> None:
        pass

    async def lookup(self, tenant_id: UUID, device_ids: Sequence[UUID]) -> dict[UUID, Presence]:
        return {}


async def test_each_session_is_announced_again_one_interval_after_its_last_announcement(
    store: Store,
) -> None:
    now = [0.0]
    here = LocalPresence("node-a")
    shared = RecordingPresence()
    service = PresenceService(
        here,
        shared,
        store,
        started_at=datetime.now(UTC),
        config=PresenceSettings(interval_s=5.0),
        clock=lambda: now[0],
    )
    tenant, first, second = uuid4(), uuid4(), uuid4()
    owner = _owner()

    async def at(t: float) -> list[UUID]:
        now[0] = t
        before = len(shared.batches)
        await service.tick()
        return [d for batch in shared.batches[before:] for d in batch]

    here.connected(tenant, first, owner)
    assert await at(0.0) == [first]
    assert await at(1.0) == []
    here.connected(tenant, second, _owner())
    assert await at(2.0) == [second]
    assert await at(4.75) == []
    assert await at(5.0) == [first]  # not second: announced 3 s ago
    assert await at(7.0) == [second]
    here.disconnected(first, owner)
    assert await at(10.0) == []  # ended: no longer announced
    here.connected(tenant, first, _owner())
    assert await at(10.25) == [first]
    assert await at(12.0) == [second]
    assert await at(15.0) == []  # first's next time is 15.25
    assert await at(15.25) == [first]
