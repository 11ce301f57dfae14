"""The runtime and the relay inside the app: started and stopped by the container,
visible in ``/ready`` and ``GET /metrics``."""

from __future__ import annotations

import os
from uuid import uuid4

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from actors.metrics import CONTENT_TYPE
from actors.ports.relay import RelayState
from actors.relay import LocalRelay
from edge.app import create_app
from edge.container import EXTENSION_KEY, Container
from store.redis_relay import RedisRelay
from tests.conftest import make_settings
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Quart and Hypercorn run on asyncio here


async def test_metrics_are_served_as_prometheus_text(client: Client) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type == CONTENT_TYPE
    text = await response.get_data(as_text=True)
    assert "# TYPE signage_actor_crashes_total counter" in text
    assert "signage_relay_up 1.0" in text


async def test_ready_shows_the_single_node_relay_and_running_actors(client: Client) -> None:
    body = await (await client.get("/ready")).get_json()
    assert body["relay"] == "single-node"
    assert body["actors"] == "ok"


async def test_the_container_starts_and_stops_the_runtime(app: Quart) -> None:
    found: Container = app.extensions[EXTENSION_KEY]
    assert found.runtime.state == "running"
    assert isinstance(found.relay, LocalRelay)


async def test_the_runtime_is_stopped_when_the_app_stops(db_clean: str) -> None:
    app = create_app(make_settings(db_clean))
    found: Container = app.extensions[EXTENSION_KEY]
    async with app.test_app():
        running = found.runtime.state
    assert (running, found.runtime.state) == ("running", "stopped")


async def test_with_redis_the_relay_is_redis_and_ready_reports_its_state(db_clean: str) -> None:
    settings = make_settings(
        db_clean, redis_url=REDIS_URL, relay_channel_prefix=f"test-{uuid4().hex[:12]}"
    )
    app = create_app(settings)
    found: Container = app.extensions[EXTENSION_KEY]
    assert isinstance(found.relay, RedisRelay)
    async with app.test_app():
        await eventually(lambda: found.relay.state is RelayState.OK, timeout_s=10, every_s=0.01)
        body = await (await app.test_client().get("/ready")).get_json()
        assert body["relay"] == "ok"
    assert found.runtime.state == "stopped"


async def test_redis_down_is_shown_but_the_node_stays_ready(db_clean: str) -> None:
    settings = make_settings(db_clean, redis_url="redis://127.0.0.1:1/0")
    app = create_app(settings)
    async with app.test_app():
        response = await app.test_client().get("/ready")
        body = await response.get_json()
    assert response.status_code == 200
    assert body["relay"] == "down"
