"""The embedded development PostgreSQL forgets the handles of processes that were killed,
so the next clean exit stops the server instead of leaving it running forever."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from store.embedded_pg import HANDLES, prune_dead_handles


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(10)
    return child.pid


def test_dead_handles_are_pruned_and_live_ones_kept(tmp_path: Path) -> None:
    dead = _dead_pid()
    (tmp_path / HANDLES).write_text(json.dumps([os.getpid(), dead]))
    assert prune_dead_handles(tmp_path) == [dead]
    assert json.loads((tmp_path / HANDLES).read_text()) == [os.getpid()]
    assert prune_dead_handles(tmp_path) == []  # nothing more to do


def test_a_missing_or_unreadable_handle_file_is_left_alone(tmp_path: Path) -> None:
    assert prune_dead_handles(tmp_path) == []
    (tmp_path / HANDLES).write_text("not json")
    assert prune_dead_handles(tmp_path) == []
    assert (tmp_path / HANDLES).read_text() == "not json"
