"""The relay over a Redis Cluster (``REDIS_CLUSTER=true``): the :class:`actors.ports.relay.Relay`
port on sharded pub/sub, with the contract of :class:`store.redis_relay.RedisRelay`.

Channels are the same: ``{prefix}:relay:tenant:{tenant_id}``, one per tenant, no hash tag,
so tenants spread over the cluster's slots and a tenant's messages cross only the shard
that owns its channel's slot (Redis 7 sharded pub/sub never forwards a ``SPUBLISH`` over
the cluster bus). A node publishes one message per tenant event, never one per device.

Publishing goes through redis-py's :class:`~redis.asyncio.cluster.RedisCluster`
(``signage-relay-pub:{node}``), which sends ``SPUBLISH`` to the master owning the slot and
re-reads the topology when a slot moved or a master died; every publish is bounded by
``publish_timeout_s`` and a failure is a ``False`` (the relay may lose messages).

Subscribing: one *shard session* per master that owns at least one of this node's
channels, each a plain connection named ``signage-relay-sub:{node}`` that never reconnects
behind our back (as the single-Redis relay's). A session connects, ``SSUBSCRIBE``\\s each
of its channels with a command of its own, pings, and reads. Whatever ends it — an error,
EOF, silence past a ping, a ``MOVED`` answer, or Redis's own ``SUNSUBSCRIBE`` of a channel
(its slot moved: a failover or a resharding) — ends only that shard's session: its
channels are marked as having a gap, the topology is read again (redis-py's nodes
manager, from any node still answering), every channel is routed to the master that owns
it now (a session is started for a master that has none), and each subscriber's
``on_gap`` fires as soon as its channel is confirmed again — by its new master after a
failover. Subscribers of the other shards notice nothing. ``on_gap`` is where the tenant
actor catches up from PostgreSQL.

``run`` reports started at once; ``subscribe`` waits at most ``subscribe_timeout_s``;
``state`` is ``ok`` while the topology is known and every shard session with channels is
up, ``down`` otherwise.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from uuid import UUID

import anyio
import anyio.abc
import msgspec
import redis.asyncio as redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode
from redis.backoff import EqualJitterBackoff
from redis.exceptions import RedisClusterException, RedisError

from actors.metrics import MetricsRegistry
from actors.ports.relay import Deliver, OnGap, RelayState, Subscription
from actors.relay import RelayCodec, RelayMetrics, SubscriptionTable
from actors.settings import RelaySettings
from store import redis_client

log = logging.getLogger("store.redis_cluster_relay")


class _Silent(Exception):
    """A shard's subscriber connection did not answer a ping in time."""


class _Moved(Exception):
    """Redis dropped one of the session's channels: its slot moved to another master."""


_TRANSPORT_ERRORS = (RedisError, RedisClusterException, OSError, TimeoutError, _Silent, _Moved)


class _Shard:
    """One master's subscriber session (see the module docstring)."""

    def __init__(self, node: ClusterNode, client: redis.Redis) -> None:
        self.name: str = node.name
        self.client = client
        #: The session's connection: ``connecting`` from the start, ``pubsub`` once it
        #: may carry subscribe commands.
        self.connecting: PubSub | None = None
        self.pubsub: PubSub | None = None
        self.up = False
        #: An attempt to connect failed and none has succeeded since.
        self.failing = False
        #: SSUBSCRIBE commands sent this session and not yet confirmed, per channel.
        self.unconfirmed: Counter[str] = Counter()
        #: SUNSUBSCRIBE commands we sent and whose answer is still to come.
        self.unsubscribing: Counter[str] = Counter()
        #: Channels this master confirmed this session (and we still want here).
        self.live: set[str] = set()
        self.scope: anyio.CancelScope | None = None


class RedisClusterRelay:
    """See the module docstring. A runtime :class:`~actors.runtime.Service`."""

    def __init__(
        self,
        url: str,
        *,
        node_id: str,
        codec: RelayCodec | None = None,
        config: RelaySettings | None = None,
        metrics: MetricsRegistry | None = None,
    ) -> None:
        config = config or RelaySettings()
        self.node_id = node_id
        self.publisher_name = f"signage-relay-pub:{node_id}"[:63].replace(" ", "_")
        self.subscriber_name = f"signage-relay-sub:{node_id}"[:63].replace(" ", "_")
        self._url = url
        self._cluster = redis_client.connect_cluster(url, client_name=self.publisher_name)
        self._codec = codec or RelayCodec()
        self._config = config
        self._prefix = f"{config.channel_prefix}:relay:tenant:"
        self._backoff = EqualJitterBackoff(cap=config.reconnect_max_s, base=config.reconnect_base_s)
        registry = metrics if metrics is not None else MetricsRegistry()
        self.metrics = RelayMetrics(registry, lambda: self.state)
        self.refreshes = registry.counter(
            "signage_relay_topology_refreshes_total",
            "Redis Cluster topology reads by the relay, by result (ok, failed).",
            labels=("result",),
        )
        self.moved = registry.counter(
            "signage_relay_channels_moved_total",
            "Relay channels re-subscribed on another master (failover, resharding).",
        )
        registry.callback(
            "signage_relay_shard_sessions",
            "Redis Cluster masters this node holds a relay subscriber session with, by state.",
            lambda: [
                (("up",), float(sum(1 for s in self._shards.values() if s.up))),
                (("down",), float(sum(1 for s in self._shards.values() if not s.up))),
            ],
            labels=("state",),
        )
        self._table = SubscriptionTable(node_id, self._codec, self.metrics)
        self._shards: dict[str, _Shard] = {}
        #: Channel -> the master (``host:port``) it is subscribed on, or about to be.
        self._route: dict[str, str] = {}
        self._topology_ok = False
        #: Reading the topology failed and has not succeeded since.
        self._topology_failing = False
        #: Up sessions lost whose replacement has not come up yet (reconnect counting).
        self._lost = 0
        self._confirmed = anyio.Event()
        self._stopping = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None

    @property
    def state(self) -> RelayState:
        up = self._topology_ok and all(
            s.up for s in self._shards.values() if self._channels_of(s.name)
        )
        return RelayState.OK if up else RelayState.DOWN

    def channel(self, tenant_id: UUID) -> str:
        return f"{self._prefix}{tenant_id}"

    def _tenant(self, channel: str) -> UUID | None:
        try:
            return UUID(channel.removeprefix(self._prefix))
        except ValueError:
            return None

    def master_of(self, tenant_id: UUID) -> str | None:
        """``host:port`` of the master this relay subscribes the tenant's channel on."""
        return self._route.get(self.channel(tenant_id))

    # -- publishing ------------------------------------------------------------------------

    async def publish(self, tenant_id: UUID, message: msgspec.Struct) -> bool:
        data = self._codec.encode(self.node_id, tenant_id, message)
        channel = self.channel(tenant_id)
        try:
            with anyio.fail_after(self._config.publish_timeout_s):
                await self._cluster.spublish(channel, data)
        except _TRANSPORT_ERRORS as exc:
            self.metrics.published.inc(result="failed")
            log.warning("relay: publish to %s failed: %r", channel, exc)
            return False
        self.metrics.published.inc(result="ok")
        return True

    # -- subscribing -----------------------------------------------------------------------

    async def subscribe(self, tenant_id: UUID, deliver: Deliver, on_gap: OnGap) -> Subscription:
        subscription = Subscription(tenant_id, deliver, on_gap, self._unsubscribe)
        channel = self.channel(tenant_id)
        if self._table.add(subscription):
            shard = self._route_channel(channel)
            if shard is not None and shard.pubsub is not None:
                await self._send(shard, "SSUBSCRIBE", channel)
        with anyio.move_on_after(self._config.subscribe_timeout_s):
            while not self._live(channel) and not self._failing(channel):
                await self._confirmed.wait()
        # Not live yet: what was published before Redis confirms may be missed, so the
        # subscriber catches up once it is confirmed.
        subscription.needs_gap = not self._live(channel)
        return subscription

    def _live(self, channel: str) -> bool:
        shard = self._shards.get(self._route.get(channel, ""))
        return shard is not None and channel in shard.live

    def _failing(self, channel: str) -> bool:
        shard = self._shards.get(self._route.get(channel, ""))
        if shard is None:
            return self._topology_failing
        return shard.failing

    async def _unsubscribe(self, subscription: Subscription) -> None:
        if not self._table.remove(subscription):
            return
        channel = self.channel(subscription.tenant_id)
        shard = self._shards.get(self._route.pop(channel, ""))
        if shard is not None:
            shard.live.discard(channel)
            if shard.pubsub is not None:
                await self._send(shard, "SUNSUBSCRIBE", channel)

    def _channels_of(self, name: str) -> list[str]:
        return [channel for channel, master in self._route.items() if master == name]

    def _owner(self, channel: str) -> ClusterNode | None:
        """The master owning ``channel``'s slot in the last topology read, if any."""
        nodes = self._cluster.nodes_manager.slots_cache.get(self._cluster.keyslot(channel))
        return nodes[0] if nodes else None

    def _route_channel(self, channel: str) -> _Shard | None:
        """Route ``channel`` to its master's session (started if need be); ``None`` while
        the topology is unknown (it is routed once it is read)."""
        owner = self._owner(channel)
        if owner is None:
            return None
        self._route[channel] = owner.name
        return self._shard_for(owner)

    def _shard_for(self, node: ClusterNode) -> _Shard:
        shard = self._shards.get(node.name)
        if shard is None:
            client = redis_client.connect(
                redis_client.node_url(self._url, node.host, int(node.port)),
                client_name=self.subscriber_name,
                retries=0,
                health_check_interval=0,
            )
            shard = self._shards[node.name] = _Shard(node, client)
            if self._tg is not None:
                self._tg.start_soon(self._shard_loop, shard, name=f"relay shard {node.name}")
        return shard

    def _reroute(self) -> None:
        """After a topology read: every wanted channel on the master owning it now."""
        for tenant in self._table.tenants():
            channel = self.channel(tenant)
            owner = self._owner(channel)
            if owner is None:
                continue  # slot uncovered (its master died, no replica yet): retried later
            current = self._route.get(channel)
            if current == owner.name and current in self._shards:
                continue
            self._route[channel] = owner.name
            if current is not None and current != owner.name:
                old = self._shards.get(current)
                if old is not None:
                    old.live.discard(channel)
                self._table.mark_gap(tenant)
                self.moved.inc()
                log.info("relay: tenant %s's channel moved from %s to %s", tenant, current, owner)
            shard = self._shard_for(owner)
            if shard.pubsub is not None and self._tg is not None:
                self._tg.start_soon(self._send, shard, "SSUBSCRIBE", channel)

    async def _refresh(self) -> bool:
        """Read the cluster's topology again (bounded) and reroute; False if it failed."""
        try:
            with anyio.fail_after(self._config.subscribe_timeout_s):
                await self._cluster.initialize()
                await self._cluster.nodes_manager.initialize()
        except _TRANSPORT_ERRORS as exc:
            self.refreshes.inc(result="failed")
            if not self._topology_failing:
                log.warning("relay: reading the cluster topology failed: %r", exc)
            self._topology_failing = True
            waiting, self._confirmed = self._confirmed, anyio.Event()
            waiting.set()
            return False
        self.refreshes.inc(result="ok")
        self._topology_ok, self._topology_failing = True, False
        self._reroute()
        return True

    async def _send(self, shard: _Shard, command: str, channel: str) -> None:
        """Send a (un)subscribe on a shard's current connection; a failure is left to its
        loop, which notices the broken connection and starts over."""
        pubsub = shard.pubsub
        if pubsub is None:
            return
        if command == "SSUBSCRIBE":
            shard.unconfirmed[channel] += 1
        else:
            shard.unsubscribing[channel] += 1
        try:
            with anyio.fail_after(self._config.subscribe_timeout_s):
                await pubsub.execute_command(command, channel)
        except _TRANSPORT_ERRORS as exc:
            log.info("relay: %s %s not sent (%r); will resubscribe", command, channel, exc)

    # -- the subscriber sessions -----------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()
        for shard in list(self._shards.values()):
            if shard.scope is not None:
                shard.scope.cancel()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Keep a session with every master owning a wanted channel until :meth:`stop`;
        reports started at once (Redis is optional: a node starts without it)."""
        task_status.started()
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                for shard in list(self._shards.values()):  # routed before run() started
                    tg.start_soon(self._shard_loop, shard, name=f"relay shard {shard.name}")
                failures = 0
                while not self._stopping.is_set() and not await self._refresh():
                    failures += 1
                    with anyio.move_on_after(self._backoff.compute(failures)):
                        await self._stopping.wait()
                await self._stopping.wait()
        finally:
            self._tg = None
            with anyio.CancelScope(shield=True), anyio.move_on_after(self._config.close_timeout_s):
                await self._cluster.aclose()

    async def _shard_loop(self, shard: _Shard) -> None:
        failures = 0
        try:
            while not self._stopping.is_set():
                if not self._channels_of(shard.name):
                    break  # its channels moved elsewhere or were unsubscribed
                try:
                    with anyio.CancelScope() as shard.scope:
                        await self._session(shard)
                except _TRANSPORT_ERRORS as exc:
                    if shard.up or failures == 0:
                        log.warning("relay: session with %s lost: %r", shard.name, exc)
                finally:
                    shard.scope = None
                    was_up = shard.up
                    await self._shard_down(shard)
                if self._stopping.is_set():
                    break
                failures = 1 if was_up else failures + 1
                with anyio.move_on_after(self._backoff.compute(failures)):
                    await self._stopping.wait()
                if not self._stopping.is_set():
                    await self._refresh()  # the master may have changed: reroute
        finally:
            # No await between the check above and this: a channel routed here meanwhile
            # finds no session and starts a new one.
            if self._shards.get(shard.name) is shard:
                del self._shards[shard.name]
            with anyio.CancelScope(shield=True), anyio.move_on_after(self._config.close_timeout_s):
                await shard.client.aclose()

    async def _session(self, shard: _Shard) -> None:
        """Connect to one master, subscribe its channels, then read until it fails."""
        pubsub = shard.client.pubsub()
        shard.connecting = pubsub
        with anyio.fail_after(self._config.subscribe_timeout_s):
            await pubsub.connect()  # type: ignore[no-untyped-call]
        # From here on subscribe() sends its own SSUBSCRIBE; the ones before are in this
        # list (no await in between).
        shard.pubsub = pubsub
        for channel in self._channels_of(shard.name):
            shard.unconfirmed[channel] += 1
            with anyio.fail_after(self._config.subscribe_timeout_s):
                await pubsub.execute_command("SSUBSCRIBE", channel)
        with anyio.fail_after(self._config.subscribe_timeout_s):
            await pubsub.ping()  # the pong proves the connection answers
        await self._read(shard, pubsub)

    async def _read(self, shard: _Shard, pubsub: PubSub) -> None:
        interval = self._config.ping_interval_s
        last_heard = time.monotonic()
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=interval / 2)
            now = time.monotonic()
            if message is None:
                silent = now - last_heard
                if silent > 2 * interval:
                    raise _Silent(f"no answer for {silent:.1f}s")
                if silent > interval and not pinged:
                    pinged = True
                    with anyio.fail_after(interval):
                        await pubsub.ping()
                continue
            last_heard, pinged = now, False
            self._handle(shard, message)

    def _handle(self, shard: _Shard, message: dict[str, object]) -> None:
        if not shard.up:  # the first answer on this connection
            shard.up, shard.failing = True, False
            if self._lost > 0:
                self._lost -= 1
                self.metrics.reconnects.inc()
            log.info(
                "relay: connected to %s (%d channels)",
                shard.name,
                len(self._channels_of(shard.name)),
            )
        kind = message["type"]
        raw = message["channel"]
        channel = raw.decode() if isinstance(raw, bytes) else str(raw)
        if kind == "smessage":
            data = message["data"]
            if isinstance(data, bytes):
                self._table.dispatch(data)
        elif kind == "ssubscribe":
            self._on_confirmed(shard, channel)
        elif kind == "sunsubscribe":
            if shard.unsubscribing[channel] > 0:
                shard.unsubscribing[channel] -= 1  # the answer to our own SUNSUBSCRIBE
                return
            if self._route.get(channel) == shard.name:
                raise _Moved(f"{shard.name} dropped {channel}")

    def _on_confirmed(self, shard: _Shard, channel: str) -> None:
        shard.unconfirmed[channel] -= 1
        if shard.unconfirmed[channel] > 0:
            return  # an older SSUBSCRIBE's answer; the latest one is still on its way
        del shard.unconfirmed[channel]
        tenant = self._tenant(channel)
        if tenant is None or self._route.get(channel) != shard.name:
            return  # unsubscribed or moved meanwhile
        shard.live.add(channel)
        self._table.confirmed(tenant)
        waiting, self._confirmed = self._confirmed, anyio.Event()
        waiting.set()

    async def _shard_down(self, shard: _Shard) -> None:
        pubsub, shard.connecting, shard.pubsub = shard.connecting, None, None
        if shard.up:
            self._lost += 1
            log.warning(
                "relay: %s down; its channels catch up once they are live again", shard.name
            )
        elif not self._stopping.is_set():
            shard.failing = True  # this attempt never got an answer
        shard.up = False
        shard.live.clear()
        shard.unconfirmed.clear()
        shard.unsubscribing.clear()
        for channel in self._channels_of(shard.name):
            tenant = self._tenant(channel)
            if tenant is not None:
                self._table.mark_gap(tenant)
        waiting, self._confirmed = self._confirmed, anyio.Event()
        waiting.set()  # subscribers waiting for a confirmation stop waiting: it won't come
        if pubsub is not None:
            with anyio.CancelScope(shield=True), anyio.move_on_after(self._config.close_timeout_s):
                try:
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                except _TRANSPORT_ERRORS as exc:
                    log.debug("relay: closing the old connection: %r", exc)
