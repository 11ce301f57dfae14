"""The relay between nodes over Redis pub/sub (the :class:`actors.ports.relay.Relay` port).

Channels: ``{prefix}:relay:tenant:{tenant_id}``, one per tenant and no hash tag, so that
with ``sharded=True`` (Redis 7 ``SPUBLISH``/``SSUBSCRIBE``) tenants spread over a
cluster's shards and a tenant's traffic reaches only its shard. Each channel is
subscribed with a command of its own, as a cluster requires.

Two connections, each named so operators (and tests) can find them in ``CLIENT LIST``:

- ``signage-relay-pub:{node}``: publishing (the shared client settings, a few quick
  retries), every publish bounded by ``publish_timeout_s``; failure is a ``False``.
- ``signage-relay-sub:{node}``: one subscriber connection owned by :meth:`run`. It never
  reconnects behind our back (no retries, no implicit health checks): :meth:`run` notices
  every loss (error, EOF, or silence past a ping), marks every subscriber as having a
  gap, reconnects with jittered exponential backoff, resubscribes, and fires each
  subscriber's ``on_gap`` as soon as its channel is confirmed again.

Redis being down never blocks anyone: ``run`` reports started without waiting for Redis,
``subscribe`` waits at most ``subscribe_timeout_s``, ``publish`` at most
``publish_timeout_s``; the relay's state says ``down`` meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from uuid import UUID

import anyio
import anyio.abc
import msgspec
from redis.asyncio.client import PubSub
from redis.backoff import EqualJitterBackoff
from redis.exceptions import RedisError

from actors.metrics import MetricsRegistry
from actors.ports.relay import Deliver, OnGap, RelayState, Subscription
from actors.relay import RelayCodec, RelayMetrics, SubscriptionTable
from actors.settings import RelaySettings
from store import redis_client

log = logging.getLogger("store.redis_relay")


class _Silent(Exception):
    """The subscriber connection did not answer a ping in time."""


_TRANSPORT_ERRORS = (RedisError, OSError, TimeoutError, _Silent)


class RedisRelay:
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
        self._publisher = redis_client.connect(url, client_name=self.publisher_name)
        self._subscriber = redis_client.connect(
            url, client_name=self.subscriber_name, retries=0, health_check_interval=0
        )
        self._codec = codec or RelayCodec()
        self._config = config
        self._prefix = f"{config.channel_prefix}:relay:tenant:"
        self._backoff = EqualJitterBackoff(cap=config.reconnect_max_s, base=config.reconnect_base_s)
        self.metrics = RelayMetrics(
            metrics if metrics is not None else MetricsRegistry(), lambda: self.state
        )
        self._table = SubscriptionTable(node_id, self._codec, self.metrics)
        #: The session's connection: ``_connecting`` from the start, ``_pubsub`` once it
        #: may carry subscribe commands.
        self._connecting: PubSub | None = None
        self._pubsub: PubSub | None = None
        self._up = False
        self._ever_up = False
        #: An attempt to connect failed and none has succeeded since.
        self._failing = False
        #: SUBSCRIBE commands sent this session and not yet confirmed, per channel.
        self._unconfirmed: Counter[str] = Counter()
        #: Channels Redis has confirmed this session (and we still want).
        self._live: set[str] = set()
        self._confirmed = anyio.Event()
        self._stopping = anyio.Event()
        self._session_scope: anyio.CancelScope | None = None

    @property
    def state(self) -> RelayState:
        return RelayState.OK if self._up else RelayState.DOWN

    def channel(self, tenant_id: UUID) -> str:
        return f"{self._prefix}{tenant_id}"

    def _tenant(self, channel: str) -> UUID | None:
        try:
            return UUID(channel.removeprefix(self._prefix))
        except ValueError:
            return None

    # -- publishing ------------------------------------------------------------------------

    async def publish(self, tenant_id: UUID, message: msgspec.Struct) -> bool:
        data = self._codec.encode(self.node_id, tenant_id, message)
        channel = self.channel(tenant_id)
        try:
            with anyio.fail_after(self._config.publish_timeout_s):
                if self._config.sharded:
                    await self._publisher.spublish(channel, data)
                else:
                    await self._publisher.publish(channel, data)
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
        first = self._table.add(subscription)
        if first and self._pubsub is not None:
            await self._send(self._subscribe_command(), channel)
        with anyio.move_on_after(self._config.subscribe_timeout_s):
            # While connecting, the session subscribes the channel; once Redis is known to
            # be failing, nobody waits for it.
            while channel not in self._live and not self._failing:
                await self._confirmed.wait()
        # Not live yet: what was published before Redis confirms may be missed, so the
        # subscriber catches up once it is confirmed.
        subscription.needs_gap = channel not in self._live
        return subscription

    async def _unsubscribe(self, subscription: Subscription) -> None:
        if not self._table.remove(subscription):
            return
        channel = self.channel(subscription.tenant_id)
        self._live.discard(channel)
        if self._pubsub is not None:
            await self._send("SUNSUBSCRIBE" if self._config.sharded else "UNSUBSCRIBE", channel)

    def _subscribe_command(self) -> str:
        return "SSUBSCRIBE" if self._config.sharded else "SUBSCRIBE"

    async def _send(self, command: str, channel: str) -> None:
        """Send a (un)subscribe on the current subscriber connection; a failure is left
        to :meth:`run`, which notices the broken connection and starts over."""
        pubsub = self._pubsub
        if pubsub is None:
            return
        if command.endswith("SUBSCRIBE") and not command.endswith("UNSUBSCRIBE"):
            self._unconfirmed[channel] += 1
        try:
            with anyio.fail_after(self._config.subscribe_timeout_s):
                await pubsub.execute_command(command, channel)
        except _TRANSPORT_ERRORS as exc:
            log.info("relay: %s %s not sent (%r); will resubscribe", command, channel, exc)

    # -- the subscriber connection ---------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()
        if self._session_scope is not None:
            self._session_scope.cancel()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Keep one subscriber connection alive until :meth:`stop`; reports started at
        once (Redis is optional: a node starts without it)."""
        task_status.started()
        failures = 0
        try:
            while not self._stopping.is_set():
                try:
                    with anyio.CancelScope() as self._session_scope:
                        await self._session()
                except _TRANSPORT_ERRORS as exc:
                    if self._up or failures == 0:
                        log.warning("relay: subscriber connection lost: %r", exc)
                finally:
                    self._session_scope = None
                    was_up = self._up
                    await self._disconnected()
                if self._stopping.is_set():
                    break
                failures = 1 if was_up else failures + 1
                with anyio.move_on_after(self._backoff.compute(failures)):
                    await self._stopping.wait()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(self._config.close_timeout_s):
                await self._publisher.aclose()
                await self._subscriber.aclose()

    async def _session(self) -> None:
        """Connect, (re)subscribe everything, then read until the connection fails."""
        pubsub = self._subscriber.pubsub()
        self._connecting = pubsub
        with anyio.fail_after(self._config.subscribe_timeout_s):
            await pubsub.connect()  # type: ignore[no-untyped-call]
        # From here on subscribe() sends its own SUBSCRIBE; the ones before are in this
        # list (no await in between).
        self._pubsub = pubsub
        channels = [self.channel(t) for t in self._table.tenants()]
        for channel in channels:
            self._unconfirmed[channel] += 1
            with anyio.fail_after(self._config.subscribe_timeout_s):
                await pubsub.execute_command(self._subscribe_command(), channel)
        with anyio.fail_after(self._config.subscribe_timeout_s):
            await pubsub.ping()  # the pong proves the connection answers
        await self._read(pubsub)

    async def _read(self, pubsub: PubSub) -> None:
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
            self._handle(message)

    def _handle(self, message: dict[str, object]) -> None:
        if not self._up:  # the first answer on this connection
            self._up, self._failing = True, False
            if self._ever_up:
                self.metrics.reconnects.inc()
            self._ever_up = True
            log.info("relay: connected (%d channels)", len(self._table.tenants()))
        kind = message["type"]
        raw = message["channel"]
        channel = raw.decode() if isinstance(raw, bytes) else str(raw)
        if kind in ("message", "smessage"):
            data = message["data"]
            if isinstance(data, bytes):
                self._table.dispatch(data)
        elif kind in ("subscribe", "ssubscribe"):
            self._on_confirmed(channel)

    def _on_confirmed(self, channel: str) -> None:
        self._unconfirmed[channel] -= 1
        if self._unconfirmed[channel] > 0:
            return  # an older SUBSCRIBE's answer; the latest one is still on its way
        del self._unconfirmed[channel]
        tenant = self._tenant(channel)
        if tenant is None or not self._table.subscribers(tenant):
            return  # unsubscribed meanwhile
        self._live.add(channel)
        self._table.confirmed(tenant)
        waiting, self._confirmed = self._confirmed, anyio.Event()
        waiting.set()

    async def _disconnected(self) -> None:
        pubsub, self._connecting, self._pubsub = self._connecting, None, None
        if self._up:
            log.warning("relay: down; every subscriber will catch up after the reconnect")
        elif not self._stopping.is_set():
            self._failing = True  # this attempt never got an answer
        self._up = False
        self._live.clear()
        self._unconfirmed.clear()
        self._table.mark_gap()
        waiting, self._confirmed = self._confirmed, anyio.Event()
        waiting.set()  # subscribers waiting for a confirmation stop waiting: it won't come
        if pubsub is not None:
            # Only this session's connection; the client's pool closes when run() ends.
            with anyio.CancelScope(shield=True), anyio.move_on_after(self._config.close_timeout_s):
                try:
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                except _TRANSPORT_ERRORS as exc:
                    log.debug("relay: closing the old connection: %r", exc)
