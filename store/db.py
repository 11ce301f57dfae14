"""The PostgreSQL connection pool and its transactions.

Every pooled connection runs ``SET ROLE signage_app`` when it is created, so row-level
security binds the application even when ``DATABASE_URL`` names a superuser (RLS never
binds superusers, nor table owners without FORCE). Each transaction then states whose
data it may touch: :meth:`Database.tenant` sets ``app.tenant_id``, :meth:`Database.platform`
sets ``app.scope = 'platform'``, :meth:`Database.anonymous` neither — all with
``set_config(..., is_local => true)``, so a connection returned to the pool never carries a
tenant over to its next borrower.

Failover: ``DATABASE_URL`` may name a primary and its standbys (libpq multi-host, with
``target_session_attrs=read-write``). Every borrowed connection is checked first, and every
connection attempt walks the hosts within the connect timeout, so when the primary goes
and a standby is promoted the pool's connections move to it by themselves; meanwhile a
borrower gets :class:`~actors.errors.Unavailable` (503) within ``timeout_s``, never a hang.
A transaction cut by the failover fails the same way; if it was cut during its COMMIT its
outcome is unknown to this node (the write may be there). docs/operations.md, "PostgreSQL
failover".
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from actors.errors import Invalid, NotFound, Unavailable
from store.pg_conninfo import bounded_connection_params

log = logging.getLogger(__name__)

#: The role every application query runs as. Created by ``sql/0001_foundation.sql``.
APP_ROLE = "signage_app"
#: Aborts statements and idle transactions that would otherwise pin a pooled connection.
STATEMENT_TIMEOUT_MS = 15_000
IDLE_IN_TRANSACTION_TIMEOUT_MS = 30_000

#: How long the pool keeps retrying to replace a lost connection before it gives that
#: slot up (the next borrower then starts a fresh attempt). psycopg_pool doubles the delay
#: between attempts from 1 s up to this window, so the window also bounds how late the
#: pool notices that a promoted standby accepts connections again.
RECONNECT_WINDOW_S = 15.0

Connection = psycopg.AsyncConnection[TupleRow]


async def _configure(conn: Connection) -> None:
    await conn.execute(f"SET ROLE {APP_ROLE}")
    await conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
    await conn.execute(
        f"SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_TIMEOUT_MS}"
    )
    await conn.commit()


def _checked_within(timeout_s: float) -> Callable[[Connection], Awaitable[None]]:
    """The pool's ``check``: every borrowed connection answers an empty query first, so a
    connection to a server that has gone (a primary stopped for a failover) is discarded
    and replaced instead of failing its borrower's transaction.

    Bounded: a server that stopped answering without closing the socket would otherwise
    hold the borrower until TCP gives up. Not by cancelling the query — psycopg would then
    spend up to 10 s asking that same silent server to cancel it — but by shutting the
    socket down under it, so that the check fails at once with the driver's own error."""

    async def check(conn: Connection) -> None:
        watchdog = asyncio.get_running_loop().call_later(timeout_s, _sever, conn, timeout_s)
        try:
            await AsyncConnectionPool.check_connection(conn)
        finally:
            watchdog.cancel()

    return check


def _sever(conn: Connection, after_s: float) -> None:
    """Shut down (not close: the descriptor stays libpq's) the connection's socket."""
    try:
        with socket.fromfd(conn.pgconn.socket, socket.AF_INET, socket.SOCK_STREAM) as dup:
            dup.shutdown(socket.SHUT_RDWR)
    except (OSError, psycopg.Error):
        pass  # already closed: the check fails by itself
    log.warning("a pooled database connection did not answer within %.1f s: dropped", after_s)


class Database:
    """Owns the pool. Open it once at start-up (:meth:`open`), close it at shutdown.

    Borrow connections only through :meth:`tenant` / :meth:`platform`: a connection used
    outside them has no tenant set and row-level security shows it nothing.
    """

    def __init__(
        self,
        conninfo: str,
        *,
        min_size: int = 2,
        max_size: int = 10,
        timeout_s: float = 5.0,
        application_name: str = "signage",
    ) -> None:
        self.conninfo = conninfo
        self._timeout_s = timeout_s
        self.pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout_s,
            kwargs={
                **bounded_connection_params(conninfo, timeout_s),
                "application_name": application_name[:63],
            },
            configure=_configure,
            check=_checked_within(timeout_s),
            reconnect_timeout=max(RECONNECT_WINDOW_S, timeout_s),
            open=False,
            name="signage",
        )

    async def open(self, *, wait: bool = False) -> None:
        """Start the pool. With ``wait=False`` the service starts even while PostgreSQL is
        down (``/ready`` answers 503 until it is back)."""
        await self.pool.open(wait=wait, timeout=self._timeout_s)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def tenant(self, tenant_id: UUID) -> AsyncIterator[Connection]:
        """A transaction in which RLS shows only ``tenant_id``'s rows.

        :raises Unavailable: if no connection can be had within the pool timeout.
        """
        async with self._transaction(str(tenant_id), "tenant") as conn:
            yield conn

    @asynccontextmanager
    async def platform(self) -> AsyncIterator[Connection]:
        """A transaction for platform-wide work (tenants, platform users, the platform
        audit chain, cross-tenant fan-out). Use cases must authorize before asking for it.

        :raises Unavailable: if no connection can be had within the pool timeout.
        """
        async with self._transaction("", "platform") as conn:
            yield conn

    @asynccontextmanager
    async def anonymous(self) -> AsyncIterator[Connection]:
        """A transaction in which RLS shows no tenant-owned row at all: for paths that run
        before the caller is known (login, refresh), which reach their one row through a
        narrow SECURITY DEFINER lookup instead of a platform-wide view.

        :raises Unavailable: if no connection can be had within the pool timeout.
        """
        async with self._transaction("", "anonymous") as conn:
            yield conn

    @asynccontextmanager
    async def _transaction(self, tenant: str, scope: str) -> AsyncIterator[Connection]:
        try:
            async with self.pool.connection() as conn, conn.transaction():
                await conn.execute(
                    "SELECT set_config('app.tenant_id', %s, true),"
                    " set_config('app.scope', %s, true)",
                    (tenant, scope),
                )
                yield conn
        except PoolTimeout:
            raise Unavailable("the database is unavailable; retry shortly") from None
        except (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction) as exc:
            # ReadOnlySqlTransaction: a write reached a server that is (still, or again) a
            # standby — the writable primary is not reachable, which the caller may retry.
            log.warning("database operation failed: %s", exc)
            raise Unavailable("the database is unavailable; retry shortly") from None
        except psycopg.DataError as exc:
            # A value that passed validation but that PostgreSQL cannot hold (a NUL in
            # text, an out-of-range number): the caller's input, never a server fault.
            log.warning("database refused a value: %s", exc.diag.message_primary)
            raise Invalid("the request holds a value the database cannot store") from None
        except psycopg.errors.ForeignKeyViolation as exc:
            # A row written for a tenant that does not exist (a platform admin naming an
            # unknown tenant id in the path): that tenant is not found, not a server fault.
            if (exc.diag.constraint_name or "").endswith("_tenant_id_fkey"):
                raise NotFound("no such tenant") from None
            raise

    async def ping(self) -> bool:
        """True if a pooled connection answers ``SELECT 1`` within the pool timeout."""
        try:
            async with self.pool.connection(timeout=self._timeout_s) as conn:
                await conn.execute("SELECT 1")
            return True
        except (PoolTimeout, psycopg.Error):
            return False

    def stats(self) -> dict[str, Any]:
        return dict(self.pool.get_stats())
