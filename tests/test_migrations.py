"""Migrations: idempotent, checksummed, applied once under concurrency."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
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
    with resources.as_file(DEFAULT_MIGRATIONS_DIR) as shipped:
        shutil.copytree(shipped, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
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


def test_shipped_migrations_come_from_the_package() -> None:
    names = [m.file_name for m in discover()]
    assert names[0] == "0001_foundation.sql"
    assert names == sorted(names)
    assert DEFAULT_MIGRATIONS_DIR.joinpath(names[0]).is_file()


def test_an_empty_migrations_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "README").write_text("not a migration")
    with pytest.raises(MigrationError, match="no migration files"):
        discover(tmp_path)


async def test_migrate_with_no_files_changes_nothing(empty_db: str, tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="no migration files"):
        await migrate(empty_db, tmp_path)
    with psycopg.connect(empty_db) as conn:
        row = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
    assert row == (None,)


def test_cli_migrate_refuses_an_install_without_migrations(empty_db: str, tmp_path: Path) -> None:
    # An installed package whose migrations are missing: signage_migrations resolves to an
    # empty folder placed first on the path.
    (tmp_path / "signage_migrations").mkdir()
    (tmp_path / "signage_migrations" / "__init__.py").write_text("")
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "from edge.cli import main; raise SystemExit(main(['migrate']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        env={"PATH": "/usr/bin:/bin", "ENV": "test", "DATABASE_URL": empty_db},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("signage: migration error: no migration files")
    assert "migrations applied" not in done.stdout
