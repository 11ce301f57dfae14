"""``signage serve`` as a real process: migrates, serves, stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.servers import running_server


@pytest.mark.slow
def test_serve_answers_health_and_stops_on_sigterm(database_url: str, tmp_path: Path) -> None:
    with running_server(tmp_path, {"DATABASE_URL": database_url}, node_id="solo") as server:
        with urllib.request.urlopen(f"{server.base_url}/ready", timeout=5) as r:  # noqa: S310
            body = json.loads(r.read())
        assert body["status"] == "ready"
        assert body["node_id"] == "solo"
        server.process.send_signal(signal.SIGTERM if sys.platform != "win32" else signal.SIGINT)
        assert server.process.wait(15) == 0
    assert "stopped" in server.log()


def test_bad_configuration_exits_with_one_line(tmp_path: Path) -> None:
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "edge.cli", "migrate"],
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "DB_POOL_MAX": "lots",
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]]
    assert "DB_POOL_MAX" in lines[0]
