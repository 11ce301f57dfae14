"""The PostgreSQL connection pool and its transactions.

Every pooled connection runs ``SET ROLE signage_app`` when it is created, so row-level
security binds the application even when ``DATABASE_URL`` names a superuser (RLS never
binds superusers, nor table owners without FORCE). Each transaction then states whose
data it may touch: :meth:`Database.tenant` sets ``app.tenant_id``, :meth:`Database.platform`
sets ``app.scope = 'platform'``, :meth:`Database.anonymous` neither — all with
``set_config(..., is_local => true)``, so a connection returned to the pool never carries a
tenant over to its next borrower.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from actors.errors import Invalid, NotFound, Unavailable

log = logging.getLogger(__name__)

#: The role every application query runs as. Created by ``sql/0001_foundation.sql``.
APP_ROLE = "signage_app"
#: Aborts statements and idle transactions that would otherwise pin a pooled connection.
STATEMENT_TIMEOUT_MS = 15_000
IDLE_IN_TRANSACTION_TIMEOUT_MS = 30_000

Connection = psycopg.AsyncConnection[TupleRow]


async def _configure(conn: Connection) -> None:
    await conn.execute(f"SET ROLE {APP_ROLE}")
    await conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
    await conn.execute(
        f"SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_TIMEOUT_MS}"
    )
    await conn.commit()


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
            kwargs={"application_name": application_name[:63]},
            configure=_configure,
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
        except psycopg.OperationalError as exc:
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
