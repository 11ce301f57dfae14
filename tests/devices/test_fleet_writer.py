"""The batched writer of screens' status and command answers, against the real PostgreSQL:
one statement per batch, newest status wins, nothing lost while the database is down,
bounded while it stays down, and rows naming a device that does not exist are skipped."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import psycopg
import pytest

from actors.metrics import MetricsRegistry
from actors.ports.uow import Tx, UnitOfWork
from actors.protocol import CommandResultFrame, Heartbeat
from actors.services.fleet_writer import BatchedFleetReports
from store.uow import Store

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _device(url: str) -> tuple[UUID, UUID]:
    """A tenant with one approved device, inserted directly."""
    tenant, device = uuid4(), uuid4()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO tenants (id, name, slug) VALUES (%s, 'T', %s)",
            (tenant, f"t-{tenant.hex[:12]}"),
        )
        conn.execute(
            "INSERT INTO devices (id, tenant_id, status, secret_hash, hardware_id,"
            " registered_from, name) VALUES (%s, %s, 'approved', %s, 'hw', '127.0.0.1', 'D')",
            (device, tenant, os.urandom(32)),
        )
    return tenant, device


def _stored(url: str, device: UUID) -> tuple[object, ...] | None:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT app_version, uptime_s, reported_at FROM device_health WHERE device_id = %s",
            (device,),
        ).fetchone()


class _Down:
    """A unit of work whose database is unreachable (every transaction fails)."""

    @asynccontextmanager
    async def platform(self) -> AsyncIterator[Tx]:
        raise psycopg.OperationalError("connection refused")
        yield  # pragma: no cover

    tenant = scoped = anonymous = platform


async def test_the_newest_status_of_each_screen_is_written_in_one_batch(
    store: Store, db_clean: str
) -> None:
    tenant, device = _device(db_clean)
    writer = BatchedFleetReports(store, MetricsRegistry(), node_id="node-a")
    writer.status(uuid4(), device, Heartbeat(app_version="9"), NOW)  # not its tenant
    assert await writer.flush_statuses() == 0
    assert _stored(db_clean, device) is None
    writer.status(tenant, device, Heartbeat(app_version="1.0", uptime_s=1), NOW)
    writer.status(tenant, device, Heartbeat(app_version="1.1", uptime_s=2), NOW)
    writer.status(tenant, uuid4(), Heartbeat(app_version="9"), NOW)  # no such device
    assert writer.pending() == (2, 0)
    assert await writer.flush_statuses() == 1
    assert _stored(db_clean, device) == ("1.1", 2.0, NOW)
    # An older report (a retried batch) never replaces a newer one.
    writer.status(tenant, device, Heartbeat(app_version="0.9"), NOW - timedelta(seconds=1))
    assert await writer.flush_statuses() == 0
    assert _stored(db_clean, device) == ("1.1", 2.0, NOW)


async def test_reports_survive_a_database_outage_and_stay_bounded() -> None:
    metrics = MetricsRegistry()
    down: UnitOfWork = _Down()  # type: ignore[assignment]
    writer = BatchedFleetReports(down, metrics, node_id="node-a", batch_size=2, max_pending=2)
    tenant = uuid4()
    first, second, third = uuid4(), uuid4(), uuid4()
    writer.status(tenant, first, Heartbeat(app_version="1"), NOW)
    writer.status(tenant, second, Heartbeat(app_version="1"), NOW)
    writer.status(tenant, third, Heartbeat(app_version="1"), NOW)  # past the bound: dropped
    writer.status(tenant, first, Heartbeat(app_version="2"), NOW)  # a known screen: replaced
    for _ in range(3):
        writer.answered(tenant, first, CommandResultFrame(id=uuid4(), result="ok"), NOW)
    assert writer.pending() == (2, 2)
    assert await writer.flush_statuses() == 0
    assert await writer.flush_answers() == 0
    assert writer.pending() == (2, 2)  # kept for the next flush
    assert metrics.sample("signage_fleet_reports_dropped_total", kind="status") == 1


async def test_only_the_commanded_screen_can_answer_once_before_expiry(
    store: Store, db_clean: str
) -> None:
    tenant, device = _device(db_clean)
    _, other = _device(db_clean)
    command = uuid4()
    with psycopg.connect(db_clean, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO device_commands (id, tenant_id, device_id, name, issued_by, expires_at)"
            " VALUES (%s, %s, %s, 'reload', 'user:x', now() + interval '1 minute')",
            (command, tenant, device),
        )
    writer = BatchedFleetReports(store, MetricsRegistry(), node_id="node-a")
    now = datetime.now(UTC)
    writer.answered(tenant, other, CommandResultFrame(id=command, result="failed"), now)
    writer.answered(tenant, device, CommandResultFrame(id=command, result="ok"), now)
    writer.answered(tenant, device, CommandResultFrame(id=command, result="failed"), now)
    assert writer.pending() == (0, 2)
    assert await writer.flush_answers() == 1
    with psycopg.connect(db_clean, autocommit=True) as conn:
        row = conn.execute(
            "SELECT state, answered_node FROM device_commands WHERE id = %s", (command,)
        ).fetchone()
    assert row == ("ok", "node-a")
