"""A private PostgreSQL for development (``make run`` with no ``DATABASE_URL``).

The ``pgserver`` package ships real PostgreSQL binaries in a wheel; the data lives under
``<DATA_DIR>/pg`` (git-ignored) and survives restarts; the server stops when the process
exits (pgserver's ``atexit`` hook: every exit path of ``signage serve`` returns normally,
signals included). Never used in ``ENV=prod``.

pgserver counts the processes using the server in ``.handle_pids.json`` and stops it when
the last one exits. A process that was killed (SIGKILL, a crash) never removes itself, so
the server would outlive every later process: dead pids are pruned before each start.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

HANDLES = ".handle_pids.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def prune_dead_handles(path: Path) -> list[int]:
    """Drop the pids of processes that no longer exist from pgserver's handle list;
    returns the dead pids removed."""
    handles = path / HANDLES
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(pids, list):
        return []
    alive = [p for p in pids if isinstance(p, int) and _alive(p)]
    dead = [p for p in pids if p not in alive]
    if dead:
        log.warning("embedded PostgreSQL: forgetting handles of dead processes %s", dead)
        handles.write_text(json.dumps(alive))
    return dead


def start_embedded_postgres(data_dir: str) -> str:
    """Start (or reuse) the embedded server and return a libpq URL to it.

    :raises RuntimeError: if ``pgserver`` (a dev extra) is not installed.
    """
    try:
        import pgserver  # type: ignore[import-untyped,unused-ignore]
    except ImportError:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "DATABASE_URL is unset and the embedded PostgreSQL (pip install -e '.[dev]') "
            "is not installed"
        ) from None
    path = Path(data_dir, "pg").resolve()
    path.mkdir(parents=True, exist_ok=True)
    prune_dead_handles(path)
    server = pgserver.get_server(path, cleanup_mode="stop")  # type: ignore[attr-defined,unused-ignore]
    uri: str = server.get_uri()
    return uri
