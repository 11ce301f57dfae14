"""The second wall for content, playlists, schedules and manifests: row-level security
keeps each tenant's rows to itself even when a query forgets its tenant filter."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg import sql

from store.db import Connection, Database

pytestmark = pytest.mark.anyio

A = uuid.UUID("00000000-0000-4000-8000-0000000000ca")
B = uuid.UUID("00000000-0000-4000-8000-0000000000cb")
USER = uuid.UUID("00000000-0000-4000-8000-0000000000ff")

TABLES = (
    "content",
    "content_revisions",
    "playlists",
    "playlist_items",
    "schedules",
    "manifest_state",
    "manifest_documents",
    "device_manifests",
)


def seed(conn: psycopg.Connection[tuple[object, ...]], tenant: uuid.UUID, name: str) -> None:
    """One row in every table for ``tenant`` (as the owner: RLS does not bind it)."""
    content, playlist, device = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    digest = (name * 64)[:64]
    conn.execute("INSERT INTO tenants (id, name, slug) VALUES (%s, %s, %s)", (tenant, name, name))
    conn.execute(
        "INSERT INTO content (id, tenant_id, kind, state, revision, created_by)"
        " VALUES (%s, %s, 'text', 'draft', 1, %s)",
        (content, tenant, USER),
    )
    conn.execute(
        "INSERT INTO content_revisions (tenant_id, content_id, number, kind, name, duration_s,"
        " body, created_by) VALUES (%s, %s, 1, 'text', 'n', 5, 'b', %s)",
        (tenant, content, USER),
    )
    conn.execute(
        "INSERT INTO playlists (id, tenant_id, name, created_by) VALUES (%s, %s, 'p', %s)",
        (playlist, tenant, USER),
    )
    conn.execute(
        "INSERT INTO playlist_items (tenant_id, playlist_id, position, content_id)"
        " VALUES (%s, %s, 0, %s)",
        (tenant, playlist, content),
    )
    conn.execute(
        "INSERT INTO schedules (id, tenant_id, playlist_id, target_scope, priority, created_by)"
        " VALUES (%s, %s, %s, 'tenant', 1, %s)",
        (uuid.uuid4(), tenant, playlist, USER),
    )
    conn.execute(
        "INSERT INTO devices (id, tenant_id, status, secret_hash, hardware_id, registered_from,"
        " name) VALUES (%s, %s, 'approved', %s, 'hw', 'test', 'screen')",
        (device, tenant, uuid.uuid4().bytes * 2),
    )
    conn.execute("INSERT INTO manifest_state (tenant_id, version) VALUES (%s, 1)", (tenant,))
    conn.execute(
        "INSERT INTO manifest_documents (tenant_id, hash, document) VALUES (%s, %s, '{}')",
        (tenant, digest),
    )
    conn.execute(
        "INSERT INTO device_manifests (tenant_id, device_id, version, hash, starts_at, ends_at,"
        " computed_at) VALUES (%s, %s, 1, %s, now(), now() + interval '1 day', now())",
        (tenant, device, digest),
    )


@pytest.fixture
async def db(db_clean: str) -> AsyncIterator[Database]:
    with psycopg.connect(db_clean, autocommit=True) as conn:
        seed(conn, A, "a")
        seed(conn, B, "b")
    database = Database(db_clean, min_size=1, max_size=2)
    await database.open(wait=True)
    try:
        yield database
    finally:
        await database.close()


async def count(conn: Connection, table: str, where: str = "") -> int:
    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
    if where:
        query = query + sql.SQL(" WHERE tenant_id = %s")
    cur = await conn.execute(query, (uuid.UUID(where),) if where else None)
    row = await cur.fetchone()
    assert row is not None
    found: int = row[0]
    return found


@pytest.mark.parametrize("table", TABLES)
async def test_a_tenant_sees_only_its_own_rows(db: Database, table: str) -> None:
    async with db.tenant(A) as conn:
        assert await count(conn, table) == 1
        assert await count(conn, table, str(B)) == 0


@pytest.mark.parametrize("table", TABLES)
async def test_no_scope_sees_nothing(db: Database, table: str) -> None:
    async with db.anonymous() as conn:
        assert await count(conn, table) == 0


@pytest.mark.parametrize("table", ["manifest_state", "manifest_documents", "device_manifests"])
async def test_the_platform_scope_sees_manifests_of_every_tenant(db: Database, table: str) -> None:
    async with db.platform() as conn:
        assert await count(conn, table) == 2


@pytest.mark.parametrize("table", ["content", "content_revisions", "playlists", "schedules"])
async def test_content_is_tenant_data_even_for_the_platform_scope(db: Database, table: str) -> None:
    async with db.platform() as conn:
        assert await count(conn, table) == 0


async def test_a_tenant_cannot_write_into_another(db: Database) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.tenant(A) as conn:
            await conn.execute(
                "INSERT INTO playlists (id, tenant_id, name, created_by) VALUES (%s, %s, 'x', %s)",
                (uuid.uuid4(), B, USER),
            )
    async with db.tenant(A) as conn:
        cur = await conn.execute('UPDATE content SET metadata = \'{"x": "y"}\'')
        assert cur.rowcount == 1
        cur = await conn.execute("DELETE FROM device_manifests")
        assert cur.rowcount == 1
    async with db.tenant(B) as conn:
        assert await count(conn, "device_manifests") == 1


async def test_the_application_role_cannot_delete_content_or_revisions(db: Database) -> None:
    for table in ("content", "content_revisions"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            async with db.tenant(A) as conn:
                await conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
