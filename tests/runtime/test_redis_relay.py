"""The Redis relay between two relay instances over the real Redis: delivery, sharded
channels, reconnect after the connection is killed or goes silent, the catch-up hook,
and Redis being unreachable never blocking anyone."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit
from uuid import uuid4

import anyio
import msgspec
import pytest
import redis.asyncio as redis

from actors.metrics import MetricsRegistry
from actors.ports.relay import RELAY_MESSAGES, RelayState, Resync
from actors.relay import RelayCodec
from actors.settings import RelaySettings
from store.redis_relay import RedisRelay
from tests.runtime.tcp_proxy import running_proxy
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # redis-py is asyncio-only; the relay port itself is tested on trio too


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


def make_relay(
    node: str,
    prefix: str,
    url: str = REDIS_URL,
    metrics: MetricsRegistry | None = None,
    **kw: float | bool,
) -> RedisRelay:
    return RedisRelay(
        url,
        node_id=node,
        codec=CODEC,
        config=RelaySettings(channel_prefix=prefix, **kw),  # type: ignore[arg-type]
        metrics=metrics or MetricsRegistry(),
    )


@asynccontextmanager
async def running(*relays: RedisRelay) -> AsyncIterator[None]:
    async with anyio.create_task_group() as tg:
        for relay in relays:
            await tg.start(relay.run)
        try:
            yield
        finally:
            for relay in relays:
                relay.stop()


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid4().hex[:12]}"  # test runs sharing one Redis never cross-talk


async def kill_connections(name: str) -> int:
    """``CLIENT KILL`` every connection named ``name``; returns how many."""
    admin = redis.Redis.from_url(REDIS_URL)
    try:
        killed = 0
        for client in await admin.client_list():
            if client.get("name") == name:
                await admin.client_kill_filter(_id=client["id"])
                killed += 1
        return killed
    finally:
        await admin.aclose()


async def test_a_message_published_on_one_node_reaches_the_other(prefix: str) -> None:
    a, b = make_relay("node-a", prefix), make_relay("node-b", prefix)
    tenant = uuid4()
    at_a, at_b = Inbox(), Inbox()
    async with running(a, b):
        await a.subscribe(tenant, at_a.deliver, at_a.gap)
        sub_b = await b.subscribe(tenant, at_b.deliver, at_b.gap)
        assert (a.state, b.state) == (RelayState.OK, RelayState.OK)
        assert await a.publish(tenant, Alarm(text="fire"))
        assert await b.publish(uuid4(), Alarm(text="another tenant"))
        await eventually(lambda: len(at_b.messages) == 1)
        await sub_b.close()
        assert await a.publish(tenant, Alarm(text="after close"))
        assert await b.publish(tenant, Resync(reason="b to a"))
        await eventually(lambda: len(at_a.messages) == 1)
    assert at_b.messages == [Alarm(text="fire")]
    assert at_a.messages == [Resync(reason="b to a")]  # never its own publications
    assert (at_a.gaps, at_b.gaps) == (0, 0)  # both confirmed before subscribe returned


async def test_sharded_channels_deliver_the_same_way(prefix: str) -> None:
    a, b = make_relay("a", prefix, sharded=True), make_relay("b", prefix, sharded=True)
    tenant = uuid4()
    inbox = Inbox()
    async with running(a, b):
        await b.subscribe(tenant, inbox.deliver, inbox.gap)
        assert await a.publish(tenant, Alarm(text="sharded"))
        await eventually(lambda: inbox.messages == [Alarm(text="sharded")])
    assert inbox.gaps == 0


async def test_a_killed_connection_reconnects_resubscribes_and_fires_the_catch_up_hook(
    prefix: str,
) -> None:
    registry = MetricsRegistry()
    a, b = make_relay("a", prefix), make_relay("b", prefix, metrics=registry, reconnect_max_s=0.2)
    tenant = uuid4()
    inbox = Inbox()
    async with running(a, b):
        await b.subscribe(tenant, inbox.deliver, inbox.gap)
        assert await kill_connections(b.subscriber_name) == 1
        await eventually(lambda: inbox.gaps == 1)  # after the resubscription is confirmed
        assert b.state is RelayState.OK
        assert await a.publish(tenant, Alarm(text="after the reconnect"))
        await eventually(lambda: inbox.messages == [Alarm(text="after the reconnect")])
    assert inbox.gaps == 1
    assert registry.sample("signage_relay_reconnects_total") == 1


async def test_a_silent_connection_is_detected_by_ping_and_replaced(prefix: str) -> None:
    target = urlsplit(REDIS_URL)
    async with running_proxy(target.hostname or "127.0.0.1", target.port or 6379) as proxy:
        a = make_relay("a", prefix)
        b = make_relay("b", prefix, url=proxy.url, ping_interval_s=0.1, reconnect_max_s=0.1)
        tenant = uuid4()
        inbox = Inbox()
        async with running(a, b):
            await b.subscribe(tenant, inbox.deliver, inbox.gap)
            assert b.state is RelayState.OK
            proxy.deaf = True  # the connection stays open but nothing comes back

            def down() -> bool:  # a function: mypy keeps the assert's narrowing out of it
                return b.state is RelayState.DOWN

            await eventually(down, timeout_s=5)
            assert await a.publish(tenant, Alarm(text="lost in the silence"))
            proxy.deaf = False
            await proxy.cut()
            await eventually(lambda: inbox.gaps == 1)
            assert await a.publish(tenant, Alarm(text="heard"))
            await eventually(lambda: Alarm(text="heard") in inbox.messages)
        assert Alarm(text="lost in the silence") not in inbox.messages  # hence the hook


async def test_an_unreachable_redis_blocks_nobody_and_catches_up_later(prefix: str) -> None:
    target = urlsplit(REDIS_URL)
    async with running_proxy(target.hostname or "127.0.0.1", target.port or 6379) as proxy:
        proxy.deaf = True  # Redis "hangs": connections open, nothing answers
        b = make_relay(
            "b",
            prefix,
            url=proxy.url,
            subscribe_timeout_s=0.2,
            publish_timeout_s=0.2,
            reconnect_max_s=0.1,
        )
        tenant = uuid4()
        inbox = Inbox()
        async with running(b):
            with anyio.fail_after(1):
                subscription = await b.subscribe(tenant, inbox.deliver, inbox.gap)
                assert await b.publish(tenant, Alarm(text="nobody hears")) is False
            assert b.state is RelayState.DOWN
            assert subscription.needs_gap
            proxy.deaf = False
            await proxy.cut()
            await eventually(lambda: inbox.gaps == 1)
            assert b.state.value == "ok"


async def test_a_relay_without_redis_at_all_starts_and_stops_promptly(prefix: str) -> None:
    relay = make_relay("n", prefix, url="redis://127.0.0.1:1/0", reconnect_max_s=0.1)
    with anyio.fail_after(5):
        async with running(relay):
            assert relay.state is RelayState.DOWN
            assert await relay.publish(uuid4(), Alarm(text="x")) is False
