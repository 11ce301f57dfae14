"""The proof-of-play store against PostgreSQL: plays roll up per hour, a repeat or an
older play than the screen's mark is not counted, another tenant's content or screen
adds nothing, and retention deletes whole hours."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from actors.domain.plays import PlayRecord
from store.db import Database
from store.uow import Store

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(db_clean: str) -> AsyncIterator[Store]:
    db = Database(db_clean, min_size=1, max_size=2, application_name="test:plays")
    await db.open(wait=True)
    try:
        yield Store(db)
    finally:
        await db.close()


def seed(url: str) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]:
    """A tenant with a screen and a content item; another tenant's content item."""
    ids = []
    with psycopg.connect(url) as conn:
        for _n in range(2):
            tenant = uuid.uuid4()
            conn.execute(
                "INSERT INTO tenants (id, name, slug) VALUES (%s, 'T', %s)",
                (tenant, f"t-{tenant.hex[:8]}"),
            )
            content = uuid.uuid4()
            conn.execute(
                "INSERT INTO content (id, tenant_id, kind, state, revision, created_by)"
                " VALUES (%s, %s, 'text', 'draft', 1, gen_random_uuid())",
                (content, tenant),
            )
            ids += [tenant, content]
        device = uuid.uuid4()
        conn.execute(
            "INSERT INTO devices (id, tenant_id, status, secret_hash, hardware_id,"
            " registered_from, name) VALUES (%s, %s, 'approved', %s, 'hw', 'test', 'Lobby')",
            (device, ids[0], uuid.uuid4().bytes * 2),
        )
    return ids[0], device, ids[1], ids[3]


def play(tenant: uuid.UUID, device: uuid.UUID, content: uuid.UUID, at: datetime) -> PlayRecord:
    return PlayRecord(
        tenant_id=tenant, device_id=device, content_id=content, started_at=at, duration_ms=1000
    )


async def test_plays_roll_up_per_hour_and_repeats_count_once(store: Store, db_clean: str) -> None:
    tenant, device, content, foreign = seed(db_clean)
    t0 = datetime(2026, 12, 1, 10, 59, 50, tzinfo=UTC)
    first = [play(tenant, device, content, t0 + timedelta(seconds=10 * n)) for n in range(3)]
    async with store.tenant(tenant) as tx:
        assert await tx.plays.record([*first, first[0]]) == 3
    async with store.tenant(tenant) as tx:  # sent again, plus one newer and one older
        late = play(tenant, device, content, t0 + timedelta(minutes=5))
        older = play(tenant, device, content, t0 - timedelta(minutes=5))
        assert await tx.plays.record([*first, late, older]) == 1
    async with store.tenant(tenant) as tx:  # the other tenant's content adds nothing
        await tx.plays.record([play(tenant, device, foreign, t0 + timedelta(hours=1))])
    liar = uuid.uuid4()  # a tenant that does not own the screen
    async with store.tenant(liar) as tx:
        assert await tx.plays.record([play(liar, device, content, t0 + timedelta(hours=2))]) == 0
    with psycopg.connect(db_clean) as conn:
        rows = conn.execute(
            "SELECT hour, plays, duration_ms FROM play_hours ORDER BY hour"
        ).fetchall()
    assert rows == [
        (datetime(2026, 12, 1, 10, tzinfo=UTC), 1, 1000),
        (datetime(2026, 12, 1, 11, tzinfo=UTC), 3, 3000),
    ]
    async with store.platform() as tx:
        assert await tx.plays.purge(before=datetime(2026, 12, 1, 11, tzinfo=UTC), limit=10) == 1


async def test_the_writer_keeps_only_plays_inside_the_window(store: Store) -> None:
    from actors.metrics import MetricsRegistry
    from actors.protocol import PlayedItem
    from actors.services.play_writer import BatchedPlays

    writer = BatchedPlays(store, MetricsRegistry(), flush_every_s=1.0)
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    content = uuid.uuid4()
    items = [
        PlayedItem(content, now - timedelta(days=8), 1000),  # too old
        PlayedItem(content, now + timedelta(minutes=10), 1000),  # too far ahead
        PlayedItem(content, now - timedelta(hours=1), 1000),
        PlayedItem(content, now + timedelta(minutes=1), 1000),  # clock skew: kept
    ]
    assert writer.played(uuid.uuid4(), uuid.uuid4(), items, now) == 2
    assert writer.pending() == 2
