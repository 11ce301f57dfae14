"""The lock files agree with pyproject.toml, and the check notices when they do not."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packaging.lockcheck import REPO, check, parse_lock


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copy2(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(REPO / "requirements", tmp_path / "requirements")
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_shipped_locks_agree_with_pyproject() -> None:
    assert check() == []


def test_the_fast_path_versions_are_pinned_exactly() -> None:
    runtime = parse_lock((REPO / "requirements/runtime.txt").read_text(encoding="utf-8"))
    assert runtime["quart"].version == "0.22.0"
    assert runtime["hypercorn"].version == "0.18.0"
    assert runtime["wsproto"].version == "1.3.2"
    # Dev-only tools stay out of the image.
    assert not {"pytest", "pgserver", "mypy", "ruff"} & runtime.keys()


def test_a_dependency_added_without_relocking_fails(repo: Path) -> None:
    _edit(
        repo / "pyproject.toml", '    "tenacity>=9.0",\n', '    "tenacity>=9.0",\n    "rich>=13",\n'
    )
    assert "requirements/runtime.txt: rich is in pyproject.toml but not locked" in check(repo)


def test_a_dependency_dropped_without_relocking_fails(repo: Path) -> None:
    _edit(repo / "pyproject.toml", '    "tenacity>=9.0",\n', "")
    problems = check(repo)
    assert any(
        p.startswith("requirements/runtime.txt: tenacity is locked as a direct") for p in problems
    )


def test_a_pin_the_lock_does_not_satisfy_fails(repo: Path) -> None:
    _edit(repo / "pyproject.toml", '"hypercorn==0.18.0"', '"hypercorn==0.17.3"')
    problems = check(repo)
    assert (
        "requirements/runtime.txt: hypercorn==0.18.0 does not satisfy"
        " pyproject.toml's hypercorn==0.17.3" in problems
    )


def test_a_package_without_hashes_fails(repo: Path) -> None:
    lock = repo / "requirements/runtime.txt"
    text = lock.read_text(encoding="utf-8")
    start = text.index("tenacity==")
    end = text.index("# via", start)
    lock.write_text(text[:start] + "tenacity==9.2.1\n    " + text[end:], encoding="utf-8")
    assert "requirements/runtime.txt: tenacity==9.2.1 has no --hash" in check(repo)


def test_locks_pinning_one_package_differently_fail(repo: Path) -> None:
    _edit(repo / "requirements/dev.txt", "msgspec==0.23.0", "msgspec==0.22.0")
    problems = check(repo)
    assert any("msgspec==0.22.0 but requirements/runtime.txt pins 0.23.0" in p for p in problems)


def test_the_command_line_exits_non_zero_on_disagreement(repo: Path) -> None:
    (repo / "requirements/build.txt").unlink()
    done = subprocess.run(
        [sys.executable, "-m", "tests.packaging.lockcheck", str(repo)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 1
    assert "requirements/build.txt: missing (run `make lock`)" in done.stderr
