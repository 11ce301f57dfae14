"""Forward-only, checksummed migrations from ``sql/NNNN_name.sql``.

The folder ships inside the installed package as ``signage_migrations`` (see
``pyproject.toml``) and is read with :mod:`importlib.resources`, so an installed wheel
migrates exactly like a checkout. Each file runs in its own transaction and is recorded
with its sha256. All of it happens under a PostgreSQL advisory lock, so nodes that start
together apply each file exactly once (the others wait, then find nothing to do). Editing
a file that was already applied is refused: write a new migration instead.
"""

from __future__ import annotations

import hashlib
import logging
import re
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import msgspec
import psycopg

log = logging.getLogger(__name__)

#: The package ``<repo>/sql`` is installed as (package data of the wheel).
MIGRATIONS_PACKAGE = "signage_migrations"
#: The shipped migrations: ``<repo>/sql`` in a checkout, ``signage_migrations/`` when installed.
DEFAULT_MIGRATIONS_DIR: Traversable = resources.files(MIGRATIONS_PACKAGE)
#: Arbitrary but fixed: every node contends for the same advisory lock.
MIGRATION_LOCK_KEY = 0x5167_6E61_6765  # "Signage"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(Exception):
    """The migrations on disk and in the database disagree; the message says how to fix it."""


class Migration(msgspec.Struct, frozen=True):
    version: int
    name: str
    path: Traversable
    checksum: str

    @property
    def file_name(self) -> str:
        return self.path.name


def discover(directory: Traversable = DEFAULT_MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in ``directory``, in version order.

    :raises MigrationError: if there is none (a broken install: a database migrated from
        nothing would look "current" and every query would fail), if a ``.sql`` file is
        misnamed or if two share a version.
    """
    found: dict[int, Migration] = {}
    files = sorted(
        (p for p in directory.iterdir() if p.is_file() and p.name.endswith(".sql")),
        key=lambda p: p.name,
    )
    if not files:
        raise MigrationError(
            f"no migration files (NNNN_name.sql) in {directory}: this installation is "
            "incomplete; reinstall the package (the wheel ships them as signage_migrations)"
        )
    for path in files:
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_lower_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"{path.name}: version {version} is used twice")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        found[version] = Migration(version, match.group(2), path, digest)
    return [found[v] for v in sorted(found)]


async def _applied(conn: psycopg.AsyncConnection[Any]) -> dict[int, str]:
    exists = await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    row = await exists.fetchone()
    if row is None or not row[0]:
        return {}
    cur = await conn.execute("SELECT version, checksum FROM schema_migrations")
    return {version: checksum for version, checksum in await cur.fetchall()}


def _plan(migrations: list[Migration], applied: dict[int, str]) -> list[Migration]:
    known = {m.version for m in migrations}
    unknown = sorted(set(applied) - known)
    if unknown:
        raise MigrationError(
            f"the database has migration(s) {unknown} that this build does not know: "
            "run a newer build, never an older one, against this database"
        )
    for m in migrations:
        if m.version in applied and applied[m.version] != m.checksum:
            raise MigrationError(
                f"sql/{m.file_name} was changed after it was applied "
                f"(recorded sha256 {applied[m.version][:12]}…, file {m.checksum[:12]}…); "
                "restore it and add a new migration instead"
            )
    return [m for m in migrations if m.version not in applied]


async def pending(
    conn: psycopg.AsyncConnection[Any], directory: Traversable = DEFAULT_MIGRATIONS_DIR
) -> list[Migration]:
    """The migrations not yet applied (read-only; takes no lock).

    :raises MigrationError: on a checksum mismatch or an unknown applied version.
    """
    return _plan(discover(directory), await _applied(conn))


async def _may_apply(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Whether the connected role can change the schema (the owner's can, a node's cannot)."""
    cur = await conn.execute("SELECT has_schema_privilege(current_user, 'public', 'CREATE')")
    row = await cur.fetchone()
    return bool(row and row[0])


async def migrate(
    conninfo: str, directory: Traversable = DEFAULT_MIGRATIONS_DIR
) -> list[Migration]:
    """Apply every pending migration, each in its own transaction; return those applied.

    Runs as the user in ``conninfo``: the schema owner applies; a node's login role
    (``signage_node``, docs/security.md) may call it too, and it then only checks that
    nothing is pending.

    :raises MigrationError: on a checksum mismatch, an unknown applied version, a bad or
        missing file, or pending migrations that the connected role may not apply.
    :raises psycopg.Error: if a migration's SQL fails (that file's transaction is rolled back).
    """
    migrations = discover(directory)
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            applied = await _applied(conn)
            todo = _plan(migrations, applied)
            if todo and not await _may_apply(conn):
                names = ", ".join(m.file_name for m in todo[:3]) + (", …" if len(todo) > 3 else "")
                raise MigrationError(
                    f"{len(todo)} migration(s) pending ({names}) and this database role may "
                    "not change the schema: run `signage migrate` with the owner role's "
                    'DATABASE_URL first (docs/operations.md, "Upgrade")'
                )
            if not applied:
                await conn.execute(_CREATE_TABLE)
            for m in todo:
                log.info("applying migration %s", m.file_name)
                async with conn.transaction():
                    await conn.execute(m.path.read_bytes())
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum)"
                        " VALUES (%s, %s, %s)",
                        (m.version, m.name, m.checksum),
                    )
            return todo
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
