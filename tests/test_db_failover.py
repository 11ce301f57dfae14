"""The pool against servers that went away, on the real PostgreSQL behind a fault proxy:
a host that never answers is passed over for the next host of a multi-host URL within the
connect timeout; a pooled connection whose server went silent, or was cut while idle, is
checked, discarded and replaced instead of holding or failing its next borrower.
(The whole failover, primary and promoted standby under real nodes:
tests/faults/test_postgres_failover.py.)"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

import anyio
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from actors.errors import Unavailable
from store.db import Database
from store.pg_conninfo import bounded_connection_params
from tests.runtime.tcp_proxy import Proxy, running_proxy
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

TIMEOUT_S = 2.0


def _two_hosts(url: str, first_port: int) -> tuple[str, int]:
    """``url`` with a first host on ``first_port`` (the proxy) before its own; its port."""
    params = conninfo_to_dict(url)
    port = int(str(params.get("port") or 5432).split(",")[0])
    params.update(host="127.0.0.1,127.0.0.1", port=f"{first_port},{port}")
    params["target_session_attrs"] = "read-write"
    return make_conninfo("", **params), port


@pytest.fixture
async def proxy(db_clean: str) -> AsyncIterator[Proxy]:
    params = conninfo_to_dict(db_clean)
    host = str(params.get("host") or "127.0.0.1").split(",")[0]
    async with running_proxy(host, int(str(params.get("port") or 5432).split(",")[0])) as p:
        yield p


async def _server_port(db: Database) -> int:
    async with db.platform() as conn:
        row = await (await conn.execute("SELECT inet_server_port()")).fetchone()
    assert row is not None
    return int(row[0])


def test_the_url_s_own_values_win_over_the_derived_bounds() -> None:
    params = bounded_connection_params("postgresql://db/x?connect_timeout=9&keepalives=0", 0.5)
    assert "connect_timeout" not in params
    assert "keepalives" not in params
    assert params["tcp_user_timeout"] == "2000"  # libpq's 2 s floor, in milliseconds
    assert params["keepalives_idle"] == "2"


async def test_a_host_that_never_answers_is_passed_over_within_the_connect_timeout(
    db_clean: str, proxy: Proxy
) -> None:
    proxy.deaf = True  # accepts TCP, never says a word: a host that drops our packets
    url, real_port = _two_hosts(db_clean, proxy.port)
    started = time.monotonic()
    with anyio.fail_after(3 * TIMEOUT_S + 2):
        conn = await psycopg.AsyncConnection.connect(
            make_conninfo(url, **bounded_connection_params(url, TIMEOUT_S))
        )
    async with conn:
        row = await (await conn.execute("SELECT inet_server_port()")).fetchone()
    assert row == (real_port,)
    assert time.monotonic() - started >= TIMEOUT_S  # it did wait for the first host


async def test_a_pooled_connection_whose_server_went_silent_is_replaced(
    db_clean: str, proxy: Proxy
) -> None:
    url, real_port = _two_hosts(db_clean, proxy.port)
    db = Database(url, min_size=1, max_size=1, timeout_s=TIMEOUT_S)
    await db.open(wait=True)
    try:
        await _server_port(db)
        assert proxy.connections == 1  # the pool's one connection: the first host's
        proxy.deaf = True
        # The first borrower may be told the database is unavailable, but within bounds:
        # the check of the silent connection gives up, then a new one is made.
        started = time.monotonic()
        with anyio.fail_after(3 * TIMEOUT_S):
            with contextlib.suppress(Unavailable):
                await _server_port(db)
        assert time.monotonic() - started < 2 * TIMEOUT_S + 1

        async def reaches_the_next_host() -> bool:
            try:
                # An answer can only come from the second host: the first is silent.
                return await _server_port(db) == real_port
            except Unavailable:
                return False

        with anyio.fail_after(6 * TIMEOUT_S):
            while not await reaches_the_next_host():
                pass  # each try is bounded by the pool timeout
    finally:
        proxy.deaf = False
        await db.close()


async def test_a_connection_cut_while_idle_does_not_fail_its_next_borrower(
    db_clean: str,
) -> None:
    db = Database(db_clean, min_size=1, max_size=1, timeout_s=5.0, application_name="cut-idle")
    await db.open(wait=True)
    try:
        async with db.platform() as conn:
            row = await (await conn.execute("SELECT pg_backend_pid()")).fetchone()
        assert row is not None
        with psycopg.connect(db_clean, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (row[0],))
            await eventually(
                lambda: (
                    not admin.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (row[0],)
                    ).fetchall()
                )
            )
        async with db.platform() as conn:  # no Unavailable: checked, replaced, served
            await conn.execute("SELECT 1")
    finally:
        await db.close()
