"""The relay and presence on a real Redis Cluster (3 masters, 3 replicas): sharded pub/sub
with one channel per tenant subscribed on the master owning it, delivery between two
relays, a master killed (its replica takes over) and a manual failover: the subscribers of
the shard that moved get ``on_gap`` and are live again on the new master, the others
notice nothing; presence keys hash-tagged by tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from uuid import UUID, uuid4

import anyio
import msgspec
import pytest
from redis.crc import key_slot

from actors.metrics import MetricsRegistry
from actors.ports.relay import RELAY_MESSAGES, RelayState
from actors.relay import RelayCodec
from actors.settings import RelaySettings
from store import redis_client
from store.presence_redis import RedisPresence
from store.redis_cluster_relay import RedisClusterRelay
from tests.cluster.rediscluster import RedisClusterServers, command
from tests.waiting import eventually

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

#: A failover takes ~2-3 s here (cluster-node-timeout 1 s); the relay then needs a
#: reconnect backoff and a topology read.
FAILOVER_S = 20.0


class Alarm(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="alarm"):
    text: str


CODEC = RelayCodec((*RELAY_MESSAGES, Alarm))


class Inbox:
    def __init__(self) -> None:
        self.messages: list[msgspec.Struct] = []
        self.gaps = 0

    def deliver(self, message: msgspec.Struct) -> None:
        self.messages.append(message)

    def gap(self) -> None:
        self.gaps += 1

    def texts(self) -> list[str]:
        return [m.text for m in self.messages if isinstance(m, Alarm)]


def make_relay(servers: RedisClusterServers, node: str, prefix: str) -> RedisClusterRelay:
    return RedisClusterRelay(
        servers.url,
        node_id=node,
        codec=CODEC,
        config=RelaySettings(channel_prefix=prefix, ping_interval_s=1.0, reconnect_max_s=0.5),
        metrics=MetricsRegistry(),
    )


@asynccontextmanager
async def running(*relays: RedisClusterRelay) -> AsyncIterator[None]:
    async with anyio.create_task_group() as tg:
        for relay in relays:
            await tg.start(relay.run)
        try:
            yield
        finally:
            for relay in relays:
                relay.stop()


def tenants_on_every_shard(servers: RedisClusterServers, prefix: str) -> dict[str, UUID]:
    """One tenant per master: master ``host:port`` -> a tenant whose channel it owns."""
    found: dict[str, UUID] = {}
    masters = servers.slots()
    while len(found) < len(masters):
        tenant = uuid4()
        owner = servers.master_of(f"{prefix}:relay:tenant:{tenant}").name
        found.setdefault(owner, tenant)
    return found


def subscriber_connections(servers: RedisClusterServers, name: str) -> dict[str, int]:
    """Per live master: connections named ``name`` holding shard subscriptions."""
    counts = {}
    for address in servers.slots():
        listing = command(servers.node(address).port, "CLIENT", "LIST", "TYPE", "pubsub")
        counts[address] = sum(
            1 for line in listing.splitlines() if f"name={name} " in line and "ssub=0" not in line
        )
    return counts


async def test_each_tenant_is_subscribed_on_its_own_shard_and_delivered(
    cluster_whole: RedisClusterServers,
) -> None:
    prefix = f"t{uuid4().hex[:8]}"
    by_master = tenants_on_every_shard(cluster_whole, prefix)
    a, b = make_relay(cluster_whole, "a", prefix), make_relay(cluster_whole, "b", prefix)
    inboxes = {tenant: Inbox() for tenant in by_master.values()}
    async with running(a, b):
        for tenant, inbox in inboxes.items():
            await b.subscribe(tenant, inbox.deliver, inbox.gap)
        assert b.state is RelayState.OK
        for master, tenant in by_master.items():
            assert b.master_of(tenant) == master
            assert await a.publish(tenant, Alarm(f"for {tenant}"))
        await eventually(lambda: all(i.texts() for i in inboxes.values()), timeout_s=5)
        # b holds one subscriber connection per master, each with its own channels only.
        assert subscriber_connections(cluster_whole, b.subscriber_name) == {
            master: 1 for master in by_master
        }
        for master, tenant in by_master.items():
            port = cluster_whole.node(master).port
            listing = command(port, "PUBSUB", "SHARDCHANNELS")
            assert str(tenant) in listing
            assert all(str(t) not in listing for t in by_master.values() if t != tenant)
    for tenant, inbox in inboxes.items():
        assert inbox.texts() == [f"for {tenant}"]
        assert inbox.gaps == 0
    assert a.metrics.published.value(result="ok") == len(by_master)


async def test_a_killed_master_fails_over_and_only_its_tenants_catch_up(
    cluster_whole: RedisClusterServers,
) -> None:
    prefix = f"t{uuid4().hex[:8]}"
    by_master = tenants_on_every_shard(cluster_whole, prefix)
    victim_master, victim = next(iter(by_master.items()))
    a, b = make_relay(cluster_whole, "a", prefix), make_relay(cluster_whole, "b", prefix)
    inboxes = {tenant: Inbox() for tenant in by_master.values()}
    async with running(a, b):
        for tenant, inbox in inboxes.items():
            await b.subscribe(tenant, inbox.deliver, inbox.gap)
        old, replica = cluster_whole.kill_master_of(b.channel(victim))
        assert old.name == victim_master
        await eventually(lambda: b.state is RelayState.DOWN, timeout_s=5)
        # Messages for the other shards keep flowing meanwhile.
        for tenant in by_master.values():
            if tenant != victim:
                assert await a.publish(tenant, Alarm("during"))
        await anyio.to_thread.run_sync(cluster_whole.wait_failed_over, b.channel(victim), replica)
        await eventually(lambda: inboxes[victim].gaps == 1, timeout_s=FAILOVER_S)
        assert b.master_of(victim) == replica.name
        assert b.state is RelayState.OK
        # The publisher follows the failover too (redis-py re-reads the topology).
        with anyio.fail_after(FAILOVER_S):
            while not await a.publish(victim, Alarm("after")):
                await anyio.sleep(0.2)  # the publisher's topology catches up
        await eventually(lambda: "after" in inboxes[victim].texts(), timeout_s=5)
    for tenant, inbox in inboxes.items():
        if tenant != victim:
            assert inbox.gaps == 0, "a shard that did not move needs no catch-up"
            assert inbox.texts() == ["during"]
    assert b.metrics.reconnects.value() == 1
    assert b.moved.value() == 1


async def test_a_manual_failover_moves_the_channel_to_the_new_master(
    cluster_whole: RedisClusterServers,
) -> None:
    prefix = f"t{uuid4().hex[:8]}"
    tenant = next(iter(tenants_on_every_shard(cluster_whole, prefix).values()))
    a, b = make_relay(cluster_whole, "a", prefix), make_relay(cluster_whole, "b", prefix)
    inbox = Inbox()
    async with running(a, b):
        await b.subscribe(tenant, inbox.deliver, inbox.gap)
        # CLUSTER FAILOVER: nothing dies; the old master drops the channel (SUNSUBSCRIBE).
        _old, new = await anyio.to_thread.run_sync(cluster_whole.manual_failover, b.channel(tenant))
        await eventually(lambda: inbox.gaps == 1, timeout_s=FAILOVER_S)
        assert b.master_of(tenant) == new.name
        with anyio.fail_after(FAILOVER_S):
            while not await a.publish(tenant, Alarm("on the new master")):
                await anyio.sleep(0.2)  # the publisher's topology catches up
        await eventually(lambda: inbox.texts() == ["on the new master"], timeout_s=5)


async def test_presence_keys_of_a_tenant_share_one_slot_and_are_found(
    cluster_whole: RedisClusterServers,
) -> None:
    client = redis_client.connect_cluster(cluster_whole.url, client_name="presence-test")
    prefix = f"t{uuid4().hex[:8]}"
    presence = RedisPresence(client, prefix)
    tenants = [uuid4() for _ in range(6)]
    devices = {t: [uuid4() for _ in range(50)] for t in tenants}
    now = datetime.now(UTC)
    try:
        live = [(t, d, now) for t in tenants for d in devices[t]]
        await presence.publish("node-a", live, 30)
        for tenant in tenants:
            found = await presence.lookup(tenant, devices[tenant])
            assert set(found) == set(devices[tenant])
            assert {p.node_id for p in found.values()} == {"node-a"}
            slots = {key_slot(presence._key(tenant, d).encode()) for d in devices[tenant]}
            assert len(slots) == 1
        # Tenants spread over the shards.
        owners = {cluster_whole.master_of(presence._key(t, devices[t][0])).name for t in tenants}
        assert len(owners) > 1
        gone = devices[tenants[0]][:10]
        await presence.forget("node-b", [(tenants[0], d) for d in gone])  # not its keys
        assert len(await presence.lookup(tenants[0], devices[tenants[0]])) == 50
        await presence.forget("node-a", [(tenants[0], d) for d in gone])
        assert len(await presence.lookup(tenants[0], devices[tenants[0]])) == 40
    finally:
        await client.aclose()
