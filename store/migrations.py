"""Forward-only, checksummed migrations from ``sql/NNNN_name.sql``.

Each file runs in its own transaction and is recorded with its sha256. All of it
happens under a PostgreSQL advisory lock, so nodes that start together apply each
file exactly once (the others wait, then find nothing to do). Editing a file that
was already applied is refused: write a new migration instead.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any

import msgspec
import psycopg

log = logging.getLogger(__name__)

#: Shipped beside the packages: ``<repo>/sql``.
DEFAULT_MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "sql"
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
    path: Path
    checksum: str

    @property
    def file_name(self) -> str:
        return self.path.name


def discover(directory: Path = DEFAULT_MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in ``directory``, in version order.

    :raises MigrationError: if a ``.sql`` file is misnamed or two share a version.
    """
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
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
    conn: psycopg.AsyncConnection[Any], directory: Path = DEFAULT_MIGRATIONS_DIR
) -> list[Migration]:
    """The migrations not yet applied (read-only; takes no lock).

    :raises MigrationError: on a checksum mismatch or an unknown applied version.
    """
    return _plan(discover(directory), await _applied(conn))


async def migrate(conninfo: str, directory: Path = DEFAULT_MIGRATIONS_DIR) -> list[Migration]:
    """Apply every pending migration, each in its own transaction; return those applied.

    Runs as the user in ``conninfo`` (the schema owner), never as the application role.

    :raises MigrationError: on a checksum mismatch, an unknown applied version or a bad file.
    :raises psycopg.Error: if a migration's SQL fails (that file's transaction is rolled back).
    """
    migrations = discover(directory)
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            await conn.execute(_CREATE_TABLE)
            todo = _plan(migrations, await _applied(conn))
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
