"""The Redis presence store against the real Redis (docs: store/presence_redis.py): what a
node publishes is read back, expires by itself, is forgotten only by its owner, and stays
within its tenant. Each test has its own key prefix."""

from __future__ import annotations

import secrets
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
import redis.asyncio as redis

from actors.domain.devices import Presence
from store import redis_client
from store.presence_redis import CHUNK, RedisPresence
from tests.conftest import REDIS_URL
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

SEEN = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


@pytest.fixture
async def client() -> AsyncIterator[redis.Redis]:
    found = redis_client.connect(REDIS_URL, client_name="test:presence-redis")
    try:
        yield found
    finally:
        await found.aclose()


@pytest.fixture
def prefix() -> str:
    return f"t-presence-redis-{secrets.token_hex(4)}"


@pytest.fixture
async def presence(client: redis.Redis, prefix: str) -> AsyncIterator[RedisPresence]:
    yield RedisPresence(client, prefix)
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)


async def test_published_sessions_are_read_back_with_node_and_time(
    presence: RedisPresence,
) -> None:
    tenant, first, second, absent = uuid4(), uuid4(), uuid4(), uuid4()
    later = SEEN + timedelta(seconds=7)
    await presence.publish("node-a", [(tenant, first, SEEN), (tenant, second, later)], ttl_s=60)
    found = await presence.lookup(tenant, [first, second, absent])
    assert found == {first: Presence("node-a", SEEN), second: Presence("node-a", later)}
    assert await presence.lookup(tenant, []) == {}


async def test_a_newer_publish_replaces_node_and_time(presence: RedisPresence) -> None:
    tenant, device = uuid4(), uuid4()
    await presence.publish("node-a", [(tenant, device, SEEN)], ttl_s=60)
    moved = SEEN + timedelta(seconds=30)
    await presence.publish("node-b", [(tenant, device, moved)], ttl_s=60)
    assert await presence.lookup(tenant, [device]) == {device: Presence("node-b", moved)}


async def test_keys_carry_the_ttl_and_expire_by_themselves(
    presence: RedisPresence, client: redis.Redis, prefix: str
) -> None:
    tenant, lasting, short = uuid4(), uuid4(), uuid4()
    await presence.publish("node-a", [(tenant, lasting, SEEN)], ttl_s=60)
    await presence.publish("node-a", [(tenant, short, SEEN)], ttl_s=1)
    # The tenant is the key's hash tag: all of a tenant's keys share one cluster slot.
    key = f"{prefix}:presence:{{{tenant}}}:{lasting}"
    assert 59_000 < await client.pttl(key) <= 60_000
    assert 0 < await client.pttl(f"{prefix}:presence:{{{tenant}}}:{short}") <= 1_000
    # A node that stops publishing takes its devices offline once the TTL has run out.
    await eventually(lambda: _absent(presence, tenant, short), timeout_s=5.0, every_s=0.05)
    assert set(await presence.lookup(tenant, [lasting, short])) == {lasting}


async def _absent(presence: RedisPresence, tenant: UUID, device: UUID) -> bool:
    return device not in await presence.lookup(tenant, [device])


async def test_only_the_owning_node_forgets_a_session(presence: RedisPresence) -> None:
    tenant, moved, ended = uuid4(), uuid4(), uuid4()
    await presence.publish("node-a", [(tenant, ended, SEEN)], ttl_s=60)
    await presence.publish("node-b", [(tenant, moved, SEEN)], ttl_s=60)
    # node-a's session for ``moved`` ended after the device reconnected on node-b.
    await presence.forget("node-a", [(tenant, moved), (tenant, ended)])
    assert await presence.lookup(tenant, [moved, ended]) == {moved: Presence("node-b", SEEN)}
    # A node id that is a prefix of the owner's is not the owner.
    await presence.forget("node-", [(tenant, moved)])
    assert set(await presence.lookup(tenant, [moved])) == {moved}
    await presence.forget("node-b", [(tenant, moved)])
    assert await presence.lookup(tenant, [moved]) == {}


async def test_a_tenant_never_sees_another_tenants_sessions(presence: RedisPresence) -> None:
    ours, theirs, device = uuid4(), uuid4(), uuid4()
    await presence.publish("node-a", [(theirs, device, SEEN)], ttl_s=60)
    assert await presence.lookup(ours, [device]) == {}
    await presence.forget("node-a", [(ours, device)])  # forgetting in our tenant...
    assert set(await presence.lookup(theirs, [device])) == {device}  # ...leaves theirs


async def test_prefixes_separate_deployments_sharing_one_redis(
    presence: RedisPresence, client: redis.Redis, prefix: str
) -> None:
    tenant, device = uuid4(), uuid4()
    await presence.publish("node-a", [(tenant, device, SEEN)], ttl_s=60)
    other = RedisPresence(client, prefix + "-other")
    assert await other.lookup(tenant, [device]) == {}


async def test_more_sessions_than_one_round_trip_holds(presence: RedisPresence) -> None:
    tenant = uuid4()
    devices = [uuid4() for _ in range(CHUNK + 7)]
    await presence.publish("node-a", [(tenant, d, SEEN) for d in devices], ttl_s=60)
    found = await presence.lookup(tenant, devices)
    assert set(found) == set(devices)
    assert all(p == Presence("node-a", SEEN) for p in found.values())


async def test_more_sessions_than_one_round_trip_are_forgotten_the_owners_only(
    presence: RedisPresence,
) -> None:
    tenant = uuid4()
    ours = [uuid4() for _ in range(CHUNK + 7)]
    moved = uuid4()
    await presence.publish("node-a", [(tenant, d, SEEN) for d in ours], ttl_s=60)
    await presence.publish("node-b", [(tenant, moved, SEEN)], ttl_s=60)
    await presence.forget("node-a", [(tenant, d) for d in [*ours, moved]])
    assert await presence.lookup(tenant, [*ours, moved]) == {moved: Presence("node-b", SEEN)}


async def test_a_value_it_cannot_read_is_skipped_not_raised(
    presence: RedisPresence, client: redis.Redis, prefix: str
) -> None:
    tenant, device = uuid4(), uuid4()
    await client.set(f"{prefix}:presence:{{{tenant}}}:{device}", "node-a\x1fnot-a-time", ex=60)
    assert await presence.lookup(tenant, [device]) == {}


async def test_redis_unreachable_is_logged_and_swallowed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = redis_client.connect(f"redis://127.0.0.1:{port}/0", client_name="test", retries=0)
    try:
        presence = RedisPresence(down, "t-down")
        tenant, device = uuid4(), uuid4()
        await presence.publish("node-a", [(tenant, device, SEEN)], ttl_s=60)
        await presence.forget("node-a", [(tenant, device)])
        assert await presence.lookup(tenant, [device]) == {}
    finally:
        await down.aclose()
    failed = [r.getMessage() for r in caplog.records if "presence" in r.getMessage()]
    assert [m.split(":")[0] for m in failed] == [
        "presence publish failed",
        "presence forget failed",
        "presence lookup failed",
    ]
