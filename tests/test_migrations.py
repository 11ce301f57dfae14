"""Migrations: idempotent, checksummed, applied once under concurrency."""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from store.migrations import DEFAULT_MIGRATIONS_DIR, MigrationError, discover, migrate, pending
from tests.conftest import ADMIN_URL, _with_database

pytestmark = pytest.mark.anyio


@pytest.fixture
def empty_db() -> Iterator[str]:
    name = f"signage_mig_{secrets.token_hex(5)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield _with_database(ADMIN_URL, name)
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def migrations_dir(tmp_path: Path) -> Path:
    target = tmp_path / "sql"
    shutil.copytree(DEFAULT_MIGRATIONS_DIR, target)
    return target


def _applied(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT version, name FROM schema_migrations ORDER BY 1").fetchall()


async def test_second_run_applies_nothing(empty_db: str) -> None:
    first = await migrate(empty_db)
    assert [m.version for m in first] == [m.version for m in discover()]
    assert await migrate(empty_db) == []
    assert len(_applied(empty_db)) == len(first)


async def test_changed_applied_file_is_refused(empty_db: str, migrations_dir: Path) -> None:
    await migrate(empty_db, migrations_dir)
    first = sorted(migrations_dir.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match=f"{first.name} was changed after it was applied"):
        await migrate(empty_db, migrations_dir)


async def test_pending_reports_new_files_without_applying(
    empty_db: str, migrations_dir: Path
) -> None:
    await migrate(empty_db, migrations_dir)
    (migrations_dir / "9999_extra.sql").write_text("CREATE TABLE extra_probe (id int);")
    async with await psycopg.AsyncConnection.connect(empty_db) as conn:
        todo = await pending(conn, migrations_dir)
    assert [m.file_name for m in todo] == ["9999_extra.sql"]
    assert 9999 not in dict(_applied(empty_db))


async def test_failed_migration_rolls_back_only_itself(empty_db: str, migrations_dir: Path) -> None:
    (migrations_dir / "9998_ok.sql").write_text("CREATE TABLE ok_probe (id int);")
    (migrations_dir / "9999_broken.sql").write_text(
        "CREATE TABLE broken_probe (id int); SELECT no_such_function();"
    )
    with pytest.raises(psycopg.Error):
        await migrate(empty_db, migrations_dir)
    versions = dict(_applied(empty_db))
    assert 9998 in versions
    assert 9999 not in versions
    with psycopg.connect(empty_db) as conn:
        row = conn.execute("SELECT to_regclass('broken_probe')").fetchone()
    assert row == (None,)


async def test_database_newer_than_build_is_refused(empty_db: str, migrations_dir: Path) -> None:
    (migrations_dir / "9999_future.sql").write_text("SELECT 1;")
    await migrate(empty_db, migrations_dir)
    (migrations_dir / "9999_future.sql").unlink()
    with pytest.raises(MigrationError, match="does not know"):
        await migrate(empty_db, migrations_dir)


async def test_concurrent_runners_apply_each_file_once(empty_db: str, migrations_dir: Path) -> None:
    # A non-idempotent migration: applying it twice would fail on the duplicate table.
    (migrations_dir / "9999_once.sql").write_text("CREATE TABLE once_probe (id int);")
    results = await asyncio.gather(*(migrate(empty_db, migrations_dir) for _ in range(4)))
    applied_counts = sorted(len(r) for r in results)
    assert applied_counts[:3] == [0, 0, 0]
    assert applied_counts[3] == len(discover(migrations_dir))


def test_misnamed_file_is_refused(migrations_dir: Path) -> None:
    (migrations_dir / "12_bad.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNNN_lower_name\.sql"):
        discover(migrations_dir)
