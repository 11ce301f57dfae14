"""The outbox as a queue, against PostgreSQL: workers take only the head of each
endpoint's queue, skip what another worker holds (``FOR UPDATE SKIP LOCKED``) without
taking what is behind it, and take a delivery again once its lease has expired."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest

from actors.domain.webhooks import Outcome
from store.db import Database
from store.uow import Store

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(db_clean: str) -> AsyncIterator[Store]:
    db = Database(db_clean, min_size=1, max_size=3, application_name="test:webhooks")
    await db.open(wait=True)
    try:
        yield Store(db)
    finally:
        await db.close()


def seed(url: str, per_endpoint: dict[str, int]) -> dict[str, list[int]]:
    """A tenant with one endpoint per key, each with that many pending deliveries."""
    with psycopg.connect(url) as conn:
        tenant = conn.execute(
            "INSERT INTO tenants (name, slug) VALUES ('T', %s) RETURNING id",
            (f"t-{uuid.uuid4().hex[:8]}",),
        ).fetchone()
        assert tenant is not None
        rows: dict[str, list[int]] = {}
        for name, count in per_endpoint.items():
            endpoint = uuid.uuid4()
            conn.execute(
                "INSERT INTO webhook_endpoints (id, tenant_id, url, events, secret, created_by)"
                " VALUES (%s, %s, 'https://example.com/h', '{device.offline}', %s, 'test')",
                (endpoint, tenant[0], "whsec_" + "s" * 40),
            )
            rows[name] = []
            for _ in range(count):
                row = conn.execute(
                    "INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, event_type,"
                    " body) VALUES (%s, %s, gen_random_uuid(), 'device.offline', '{}')"
                    " RETURNING id",
                    (tenant[0], endpoint),
                ).fetchone()
                assert row is not None
                rows[name].append(row[0])
    return rows


async def claim(store: Store, lease_s: float = 60.0) -> list[int]:
    async with store.platform() as tx:
        return [d.id for d in await tx.webhooks.claim(limit=10, lease_s=lease_s)]


async def test_only_the_head_of_each_endpoint_is_taken_and_the_next_follows_it(
    store: Store, db_clean: str
) -> None:
    rows = seed(db_clean, {"a": 3, "b": 2})
    assert await claim(store) == [rows["a"][0], rows["b"][0]]
    assert await claim(store) == []  # both heads are leased; nothing behind them moves
    async with store.platform() as tx:
        await tx.webhooks.finish(rows["a"][0], Outcome(status=200), retry_in_s=None)
        await tx.webhooks.finish(rows["b"][0], Outcome(error="refused"), retry_in_s=None)
    assert await claim(store) == [rows["a"][1], rows["b"][1]]


async def test_a_worker_skips_rows_another_holds_without_taking_the_ones_behind(
    store: Store, db_clean: str
) -> None:
    rows = seed(db_clean, {"a": 2})
    async with store.platform() as first:
        held = await first.webhooks.claim(limit=10, lease_s=60)
        assert [d.id for d in held] == [rows["a"][0]]
        # The first worker has not committed: its row is locked, not leased yet.
        assert await claim(store) == []
    assert await claim(store) == []


async def test_an_expired_lease_is_taken_again_and_counts_its_attempts(
    store: Store, db_clean: str
) -> None:
    rows = seed(db_clean, {"a": 1})
    async with store.platform() as tx:
        (first,) = await tx.webhooks.claim(limit=10, lease_s=0.0)  # its worker "dies"
    async with store.platform() as tx:
        (again,) = await tx.webhooks.claim(limit=10, lease_s=60)
    assert first.id == again.id == rows["a"][0]
    assert (first.attempts, again.attempts) == (1, 2)


async def test_a_retry_waits_for_its_time(store: Store, db_clean: str) -> None:
    rows = seed(db_clean, {"a": 1})
    assert await claim(store) == rows["a"]
    async with store.platform() as tx:
        await tx.webhooks.finish(
            rows["a"][0], Outcome(status=503, error="HTTP 503"), retry_in_s=3600
        )
    assert await claim(store) == []
    with psycopg.connect(db_clean) as conn:
        state = conn.execute(
            "SELECT state, last_status, next_attempt_at > now() + interval '59 minutes'"
            " FROM webhook_deliveries"
        ).fetchone()
    assert state == ("pending", 503, True)
