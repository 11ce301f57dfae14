"""The in-process relay: single node, and simulated nodes on a shared hub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID, uuid4

import anyio
import msgspec
import pytest

from actors.metrics import MetricsRegistry
from actors.ports.relay import RELAY_MESSAGES, Envelope, RelayState, Resync
from actors.relay import LocalHub, LocalRelay, RelayCodec

pytestmark = pytest.mark.anyio


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


@asynccontextmanager
async def running(*relays: LocalRelay) -> AsyncIterator[None]:
    async with anyio.create_task_group() as tg:
        for relay in relays:
            await tg.start(relay.run)
        yield
        for relay in relays:
            relay.stop()


async def test_a_single_node_relay_reports_single_node_and_publishes_to_nobody() -> None:
    relay = LocalRelay("n1", codec=CODEC)
    inbox = Inbox()
    async with running(relay):
        await relay.subscribe(uuid4(), inbox.deliver, inbox.gap)
        assert relay.state is RelayState.SINGLE_NODE
        assert await relay.publish(uuid4(), Alarm(text="x")) is True
    assert inbox.messages == []


async def test_nodes_on_a_hub_receive_each_others_messages_but_not_their_own() -> None:
    hub = LocalHub()
    a, b = LocalRelay("a", hub=hub, codec=CODEC), LocalRelay("b", hub=hub, codec=CODEC)
    tenant, other_tenant = uuid4(), uuid4()
    at_a, at_b, elsewhere = Inbox(), Inbox(), Inbox()
    async with running(a, b):
        await a.subscribe(tenant, at_a.deliver, at_a.gap)
        await b.subscribe(tenant, at_b.deliver, at_b.gap)
        await b.subscribe(other_tenant, elsewhere.deliver, elsewhere.gap)
        assert await a.publish(tenant, Alarm(text="fire"))
        assert a.state is RelayState.OK
    assert at_b.messages == [Alarm(text="fire")]
    assert at_a.messages == []
    assert elsewhere.messages == []


async def test_a_healed_partition_fires_the_gap_hook_once_per_subscriber() -> None:
    hub = LocalHub()
    a, b = LocalRelay("a", hub=hub, codec=CODEC), LocalRelay("b", hub=hub, codec=CODEC)
    tenant = uuid4()
    inbox = Inbox()
    async with running(a, b):
        subscription = await b.subscribe(tenant, inbox.deliver, inbox.gap)
        hub.partition(b)
        assert b.state is RelayState.DOWN
        await a.publish(tenant, Resync(reason="missed"))
        hub.heal(b)
        await a.publish(tenant, Resync(reason="seen"))
        await subscription.close()
        await a.publish(tenant, Resync(reason="after close"))
    assert inbox.messages == [Resync(reason="seen")]
    assert inbox.gaps == 1


async def test_a_subscriber_failure_does_not_stop_delivery_to_the_others() -> None:
    hub = LocalHub()
    a, b = LocalRelay("a", hub=hub, codec=CODEC), LocalRelay("b", hub=hub, codec=CODEC)
    tenant = uuid4()
    good = Inbox()

    def broken(message: msgspec.Struct) -> None:
        raise RuntimeError("subscriber bug")

    async with running(a, b):
        await b.subscribe(tenant, broken, good.gap)
        await b.subscribe(tenant, good.deliver, good.gap)
        assert await a.publish(tenant, Alarm(text="x"))
    assert good.messages == [Alarm(text="x")]


def test_the_codec_round_trips_envelopes_and_refuses_foreign_types() -> None:
    tenant = UUID(int=7)
    data = CODEC.encode("node-1", tenant, Alarm(text="hi"))
    envelope = CODEC.decode(data)
    assert isinstance(envelope, Envelope)
    assert (envelope.origin, envelope.tenant, envelope.message) == ("node-1", tenant, Alarm("hi"))

    class Foreign(msgspec.Struct, tag="foreign"):
        pass

    with pytest.raises(TypeError, match="not a relay message type"):
        CODEC.encode("n", tenant, Foreign())
    with pytest.raises(msgspec.DecodeError):
        CODEC.decode(b"\x93garbage")

    class Untagged(msgspec.Struct):
        pass

    with pytest.raises(ValueError, match="needs a msgspec tag"):
        RelayCodec((Untagged,))


def test_relay_metrics_show_up_in_the_registry() -> None:
    registry = MetricsRegistry()
    LocalRelay("n", codec=CODEC, metrics=registry)
    assert registry.sample("signage_relay_up") == 1
    assert "# TYPE signage_relay_delivery_seconds histogram" in registry.render()
