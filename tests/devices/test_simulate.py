"""``signage simulate`` drives the public API like real screens: register, claim, connect."""

from __future__ import annotations

import os
import sys
from typing import Any

import anyio
import pytest
from quart import Quart

from tests.auth.conftest import Caller
from tests.servers import REPO

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_simulated_screens_are_claimed_and_receive_welcome_and_manifest(
    app: Quart, manager: Caller, tenant: dict[str, Any]
) -> None:
    url = f"http://127.0.0.1:{app.config['TEST_PORT']}"
    command = [
        sys.executable, "-m", "edge.cli", "simulate",
        "--url", url, "--devices", "3", "--tenant", tenant["id"],
        "--token", manager.access_token, "--groups", "lobby", "--duration-s", "2",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "ENV": "test"}
    with anyio.fail_after(60):
        result = await anyio.run_process(command, env=env, check=False)
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "registered 3 screen(s)" in out
    for index in range(3):
        assert f"[screen {index}] welcome" in out
        assert f"[screen {index}] manifest v" in out
    listed = await (await manager.get(f"/api/v1/tenants/{tenant['id']}/devices")).get_json()
    assert len(listed["items"]) == 3
    assert all(d["groups"] == ["lobby"] for d in listed["items"])
