"""Shared fixtures: one fresh PostgreSQL database per test run, real Redis, the app.

``TEST_DATABASE_URL`` names the server (a maintenance database on it, by default the
local ``postgres``); each run creates ``signage_test_<random>``, migrates it, and drops
it at the end. Tables are emptied between tests that use ``db_clean``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from quart import Quart
from quart.typing import TestClientProtocol as Client

from actors.settings import Settings
from edge.app import create_app
from store.migrations import migrate

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests (modules marked ``pytest.mark.anyio``) run on asyncio, like the server;
    the actor runtime's tests override this to run on trio too."""
    return "asyncio"


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A freshly created and migrated database, dropped when the run ends."""
    name = f"signage_test_{secrets.token_hex(6)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_database(ADMIN_URL, name)
    try:
        asyncio.run(migrate(url))
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def truncate_all(url: str) -> None:
    """Empty every table but ``schema_migrations`` (as the owner, triggers bypassed:
    the audit table refuses DELETE and TRUNCATE to everyone else).

    Only the tables that hold a row are emptied, with DELETE, in one transaction that does
    not wait for its WAL flush: TRUNCATE of all 40-odd tables rewrites every table and index
    file and cost 0.3-1.5 s after each test, most of the suite's time; a DELETE of a few
    small tables costs milliseconds. What the next test sees is the same: no row anywhere
    (sequences are left alone either way).
    """
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename <> 'schema_migrations'"
            ).fetchall()
        ]
        if not tables:
            return
        holding = sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT {} WHERE EXISTS (SELECT FROM {})").format(
                sql.Literal(t), sql.Identifier(t)
            )
            for t in tables
        )
        full = [r[0] for r in conn.execute(holding).fetchall()]
        if full:
            with conn.transaction():
                conn.execute("SET LOCAL session_replication_role = replica")
                conn.execute("SET LOCAL synchronous_commit = off")
                for table in full:
                    conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))


@pytest.fixture
def db_clean(database_url: str) -> Iterator[str]:
    """The test database, emptied after the test."""
    yield database_url
    truncate_all(database_url)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "redis_url": None,
        "jwt_secret": "test-secret-" + "x" * 40,
        "node_id": "test-node",
        "db_pool_min": 1,
        "db_pool_max": 5,
        # Never gc.freeze() the test process's heap (it would outlive the test).
        "gc_freeze_settle_s": 0.0,
    }
    values.update(overrides)
    return Settings.of(**values)


@pytest.fixture
def settings(db_clean: str) -> Settings:
    return make_settings(db_clean)


@pytest.fixture
def send_buffer_bytes() -> int | None:
    """The kernel send buffer of each connection to an app served on a real port
    (``tests.live.served``); None is the system's. A module overrides it to fill a
    connection that is not read in kilobytes instead of megabytes."""
    return None


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Quart]:
    application = create_app(settings)
    async with application.test_app():
        yield application


@pytest.fixture
def client(app: Quart) -> Client:
    return app.test_client()
