"""The machinery every relay shares — the envelope codec, the relay metrics, the
subscription table — and the in-process relay, :class:`LocalRelay` (one process: a
single node, or several simulated nodes sharing a :class:`LocalHub`). The port itself,
and what it promises, is :mod:`actors.ports.relay`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Union
from uuid import UUID

import anyio
import anyio.abc
import msgspec

from actors.metrics import LATENCY_BUCKETS, MetricsRegistry
from actors.ports.relay import (
    RELAY_MESSAGES,
    Deliver,
    Envelope,
    OnGap,
    RelayState,
    Subscription,
)

log = logging.getLogger("actors.relay")


class RelayCodec:
    """msgpack encoding of envelopes for a fixed set of tagged message types."""

    def __init__(self, types: Sequence[type[msgspec.Struct]] = RELAY_MESSAGES) -> None:
        if not types:
            raise ValueError("a relay needs at least one message type")
        for kind in types:
            if kind.__struct_config__.tag is None:
                raise ValueError(f"{kind.__name__} needs a msgspec tag to cross the relay")
        self._types = frozenset(types)
        union: object = Union[tuple(types)]  # noqa: UP007 - built at run time from a tuple
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(Envelope[union])  # type: ignore[valid-type]

    def encode(self, origin: str, tenant: UUID, message: msgspec.Struct) -> bytes:
        """:raises TypeError: if ``message``'s type is not one this codec carries."""
        if type(message) not in self._types:
            raise TypeError(f"{type(message).__name__} is not a relay message type")
        return self._encoder.encode(Envelope(origin, tenant, time.time(), message))

    def decode(self, data: bytes) -> Envelope[msgspec.Struct]:
        """:raises msgspec.DecodeError: for anything but a valid envelope."""
        envelope: Envelope[msgspec.Struct] = self._decoder.decode(data)
        return envelope


class RelayMetrics:
    """The relay's metric families (shared by every implementation)."""

    def __init__(self, registry: MetricsRegistry, state: Callable[[], RelayState]) -> None:
        self.published = registry.counter(
            "signage_relay_published_total",
            "Messages handed to the relay, by result (ok, failed).",
            labels=("result",),
        )
        self.received = registry.counter(
            "signage_relay_received_total",
            "Messages received from other nodes and delivered to local subscribers.",
        )
        self.invalid = registry.counter(
            "signage_relay_invalid_total", "Relay payloads that failed to decode (dropped)."
        )
        self.reconnects = registry.counter(
            "signage_relay_reconnects_total", "Relay connections lost and re-established."
        )
        self.gaps = registry.counter(
            "signage_relay_gaps_total", "on_gap hooks fired (possible missed messages)."
        )
        self.latency = registry.histogram(
            "signage_relay_delivery_seconds",
            "Origin wall clock to local delivery (includes clock skew between nodes).",
            LATENCY_BUCKETS,
        )
        registry.callback(
            "signage_relay_up",
            "1 if the relay is connected (or single-node), 0 if down.",
            lambda: [((), 0.0 if state() is RelayState.DOWN else 1.0)],
        )


class SubscriptionTable:
    """Subscribers by tenant, and delivery to them; shared by the relay implementations."""

    def __init__(self, node_id: str, codec: RelayCodec, metrics: RelayMetrics) -> None:
        self._node_id = node_id
        self._codec = codec
        self._metrics = metrics
        self._by_tenant: dict[UUID, set[Subscription]] = {}

    def add(self, subscription: Subscription) -> bool:
        """Add; True if it is the tenant's first subscriber (subscribe the channel)."""
        subscribers = self._by_tenant.setdefault(subscription.tenant_id, set())
        subscribers.add(subscription)
        return len(subscribers) == 1

    def remove(self, subscription: Subscription) -> bool:
        """Remove; True if it was the tenant's last subscriber (unsubscribe the channel)."""
        subscribers = self._by_tenant.get(subscription.tenant_id)
        if subscribers is None or subscription not in subscribers:
            return False
        subscribers.discard(subscription)
        if subscribers:
            return False
        del self._by_tenant[subscription.tenant_id]
        return True

    def tenants(self) -> list[UUID]:
        return list(self._by_tenant)

    def subscribers(self, tenant_id: UUID) -> set[Subscription]:
        return self._by_tenant.get(tenant_id, set())

    def mark_gap(self, tenant_id: UUID | None = None) -> None:
        """Every subscriber (of ``tenant_id``) gets ``on_gap`` once it is live again."""
        tenants = self._by_tenant if tenant_id is None else (tenant_id,)
        for tenant in tenants:
            for subscription in self._by_tenant.get(tenant, ()):
                subscription.needs_gap = True

    def confirmed(self, tenant_id: UUID) -> None:
        """The tenant's channel is live: fire the pending ``on_gap`` hooks."""
        for subscription in list(self._by_tenant.get(tenant_id, ())):
            if subscription.needs_gap:
                subscription.needs_gap = False
                self._metrics.gaps.inc()
                try:
                    subscription.on_gap()
                except Exception:
                    log.exception("relay: on_gap hook failed for tenant %s", tenant_id)

    def dispatch(self, data: bytes) -> None:
        """Decode one payload and deliver it to the tenant's local subscribers (unless
        this node sent it). Never raises: a bad payload is counted and dropped."""
        try:
            envelope = self._codec.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._metrics.invalid.inc()
            log.warning("relay: dropped an undecodable payload (%s)", exc)
            return
        if envelope.origin == self._node_id:
            return
        self._metrics.received.inc()
        self._metrics.latency.observe(max(0.0, time.time() - envelope.sent_at))
        for subscription in list(self._by_tenant.get(envelope.tenant, ())):
            try:
                subscription.deliver(envelope.message)
            except Exception:
                log.exception("relay: a subscriber of tenant %s failed", envelope.tenant)


class LocalHub:
    """Connects :class:`LocalRelay` instances of one process like a tiny Redis; tests use
    :meth:`partition` and :meth:`heal` to simulate losing it."""

    def __init__(self) -> None:
        self._relays: list[LocalRelay] = []

    def attach(self, relay: LocalRelay) -> None:
        self._relays.append(relay)

    def detach(self, relay: LocalRelay) -> None:
        if relay in self._relays:
            self._relays.remove(relay)

    def broadcast(self, sender: LocalRelay, data: bytes) -> bool:
        if sender.partitioned:
            return False
        for relay in list(self._relays):
            if relay is not sender and not relay.partitioned:
                relay.table.dispatch(data)
        return True

    def partition(self, relay: LocalRelay) -> None:
        """Cut ``relay`` off: it neither sends nor receives until :meth:`heal`."""
        relay.partitioned = True
        relay.table.mark_gap()

    def heal(self, relay: LocalRelay) -> None:
        """Reconnect ``relay``; each of its subscribers gets ``on_gap``."""
        relay.partitioned = False
        relay.metrics.reconnects.inc()
        for tenant in relay.table.tenants():
            relay.table.confirmed(tenant)


class LocalRelay:
    """The in-process relay. Alone (no ``hub``) it is the single-node relay: publishing
    reaches nobody, because the publishing node already fanned out locally. With a shared
    :class:`LocalHub` several relays in one process behave like nodes on one Redis,
    through the same codec (so a type that cannot cross Redis cannot cross this either).
    """

    def __init__(
        self,
        node_id: str,
        *,
        hub: LocalHub | None = None,
        codec: RelayCodec | None = None,
        metrics: MetricsRegistry | None = None,
    ) -> None:
        self.node_id = node_id
        self._single = hub is None
        self._hub = hub if hub is not None else LocalHub()
        self._codec = codec or RelayCodec()
        self.metrics = RelayMetrics(
            metrics if metrics is not None else MetricsRegistry(), lambda: self.state
        )
        self.table = SubscriptionTable(node_id, self._codec, self.metrics)
        self.partitioned = False
        self._stopped = anyio.Event()

    @property
    def state(self) -> RelayState:
        if self._single:
            return RelayState.SINGLE_NODE
        return RelayState.DOWN if self.partitioned else RelayState.OK

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        self._hub.attach(self)
        try:
            task_status.started()
            await self._stopped.wait()  # nothing to do until stopped: no I/O to watch
        finally:
            self._hub.detach(self)

    def stop(self) -> None:
        self._stopped.set()

    async def publish(self, tenant_id: UUID, message: msgspec.Struct) -> bool:
        data = self._codec.encode(self.node_id, tenant_id, message)
        ok = self._hub.broadcast(self, data)
        self.metrics.published.inc(result="ok" if ok else "failed")
        return ok

    async def subscribe(self, tenant_id: UUID, deliver: Deliver, on_gap: OnGap) -> Subscription:
        subscription = Subscription(tenant_id, deliver, on_gap, self._unsubscribe)
        subscription.needs_gap = self.partitioned
        self.table.add(subscription)
        return subscription

    async def _unsubscribe(self, subscription: Subscription) -> None:
        self.table.remove(subscription)
