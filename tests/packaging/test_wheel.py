"""The built wheel is the whole product: code, the ``signage`` command and the migrations.

Installing a checkout with ``pip install`` once left ``sql/`` out, so ``signage migrate``
said "nothing to do" and every call answered 500. Here the wheel is built from a copy of
the source, installed (not editable) into a fresh virtual environment, and its own
``signage migrate`` migrates an empty database from a folder that holds no checkout.

No network: the wheel is built without build isolation (setuptools comes from the dev
lock) and installed with ``--no-index --no-deps``; its dependencies are borrowed from the
test environment through a ``.pth`` line (a plain path, so the editable install there is
not picked up).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from setuptools import find_packages

from tests.packaging.databases import empty_database

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "actors", "edge", "store", "simulator", "sql")
#: Building and installing a wheel and migrating takes ~10 s on 2 cores.
pytestmark = pytest.mark.timeout(180)


def _pyproject() -> dict[str, object]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_package_on_disk_is_listed_for_the_wheel() -> None:
    setuptools_cfg = _pyproject()["tool"]["setuptools"]  # type: ignore[index]
    listed = set(setuptools_cfg["packages"])
    on_disk = set(find_packages(str(REPO), include=["actors*", "edge*", "store*", "simulator*"]))
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - on_disk == {"signage_migrations"}
    assert setuptools_cfg["package-dir"]["signage_migrations"] == "sql"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, source / name)
    out = tmp_path_factory.mktemp("dist")
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
    subprocess.run(
        [*pip_wheel, "--no-build-isolation", "--no-index", "--wheel-dir", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (built,) = out.glob("signage-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; returns its bin/ folder."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Dependencies from the test environment, after the venv's own site-packages.
    (Path(purelib) / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return venv / "bin"


def test_wheel_ships_every_module_and_migration(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("actors", "edge", "store"):
        for path in (REPO / folder).rglob("*.py"):
            assert path.relative_to(REPO).as_posix() in names
    pages = [p for p in (REPO / "edge" / "web").rglob("*") if p.is_file() and p.suffix != ".pyc"]
    assert {p.suffix for p in pages} >= {".html", ".js", ".css"}
    for path in pages:  # the player's and the console's files (edge/routes/pages.py)
        assert path.relative_to(REPO).as_posix() in names
    migrations = sorted(p.name for p in (REPO / "sql").glob("*.sql"))
    assert migrations
    for name in migrations:
        assert f"signage_migrations/{name}" in names
    assert not any(n.startswith(("tests/", "bench/", "sql/")) for n in names)


@pytest.fixture
def empty_db() -> Iterator[str]:
    with empty_database() as url:
        yield url


def test_installed_signage_migrates_an_empty_database(
    installed: Path, empty_db: str, tmp_path: Path
) -> None:
    env = {"PATH": f"{installed}:/usr/bin:/bin", "ENV": "test", "DATABASE_URL": empty_db}
    where = subprocess.run(
        [
            str(installed / "python"),
            "-c",
            "import signage_migrations, store; "
            "print(signage_migrations.__file__); print(store.__file__)",
        ],
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    venv = installed.parent.resolve()
    assert all(Path(p).resolve().is_relative_to(venv) for p in where), where

    first = subprocess.run(
        [str(installed / "signage"), "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.returncode == 0, first.stderr
    shipped = sorted(p.name for p in (REPO / "sql").glob("*.sql"))
    assert first.stdout.strip() == "migrations applied: " + ", ".join(shipped)
    with psycopg.connect(empty_db) as conn:
        count = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
        tenants = conn.execute("SELECT to_regclass('tenants')").fetchone()
    assert count == (len(shipped),)
    assert tenants == ("tenants",)

    again = subprocess.run(
        [str(installed / "signage"), "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "migrations applied: nothing to do"
