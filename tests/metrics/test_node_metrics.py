"""``GET /metrics`` of a running node: HTTP latency by route template, the build, the
process, the PostgreSQL pool — each app on a registry of its own."""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from typing import Any

import pytest
from quart import Quart

from actors.settings import Settings
from edge.app import create_app
from tests.auth.conftest import Caller, container_of
from tests.metrics.conftest import scrape

pytestmark = pytest.mark.anyio

DEVICES_ROUTE = "/api/v1/tenants/<uuid:tenant_id>/devices"


async def test_http_latency_is_labelled_by_route_template_and_method_never_the_path(
    app: Quart, manager: Caller, tenant: dict[str, Any]
) -> None:
    for _ in range(3):
        response = await manager.get(f"/api/v1/tenants/{tenant['id']}/devices")
        assert response.status_code == 200
    await app.test_client().delete("/no/such/page")
    found = await scrape(app)
    count = "signage_http_request_duration_seconds_count"
    assert found.value(count, method="GET", route=DEVICES_ROUTE) == 3
    assert found.value(count, method="DELETE", route="unmatched") == 1
    assert (found.value("signage_http_responses_total", status="404") or 0) >= 1
    every_route = {labels["route"] for labels in found.series(count)}
    assert not any(tenant["id"] in route for route in every_route)


async def test_build_info_names_the_package_python_and_the_http_stack(app: Quart) -> None:
    found = await scrape(app)
    (build,) = found.series("signage_build_info")
    assert build == {
        "version": importlib.metadata.version("signage"),
        "python": platform.python_version(),
        "hypercorn": importlib.metadata.version("hypercorn"),
        "quart": importlib.metadata.version("quart"),
    }
    assert found.value("signage_build_info", **build) == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process metrics read /proc")
async def test_process_metrics_are_exposed(app: Quart) -> None:
    found = await scrape(app)
    assert (found.value("process_resident_memory_bytes") or 0) > 0
    assert (found.value("process_open_fds") or 0) > 0
    assert found.series("python_info")


async def test_pool_gauges_follow_the_pool(app: Quart, settings: Settings) -> None:
    await container_of(app).db.pool.wait(timeout=5)
    found = await scrape(app)
    assert found.value("signage_db_pool_max") == settings.database.pool_max
    assert found.value("signage_db_pool_min") == settings.database.pool_min
    size = found.value("signage_db_pool_size")
    available = found.value("signage_db_pool_available")
    assert size is not None
    assert available is not None
    assert settings.database.pool_min <= size <= settings.database.pool_max
    assert 0 <= available <= size
    assert found.value("signage_db_pool_waiting") == 0
    async with container_of(app).db.pool.connection():
        busy = await scrape(app)
    # The connection held here is in the pool's size and not available (background
    # services may hold others meanwhile).
    busy_size = busy.value("signage_db_pool_size")
    assert busy_size is not None
    assert busy_size >= 1
    assert (busy.value("signage_db_pool_available") or 0) <= busy_size - 1
    assert (busy.value("signage_db_pool_requests_total") or 0) >= 1


def test_two_apps_in_one_process_each_expose_their_own_metrics(settings: Settings) -> None:
    one, two = create_app(settings), create_app(settings)
    first, second = container_of(one).metrics, container_of(two).metrics
    first.counter("only_in_the_first_total", "x").inc()
    assert "only_in_the_first_total" not in second.render()
    assert "process_resident_memory_bytes" in first.render()
    assert "process_resident_memory_bytes" in second.render()
