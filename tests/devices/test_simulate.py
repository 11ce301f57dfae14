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


def test_the_reconnect_contract_backs_off_with_full_jitter_up_to_a_minute() -> None:
    from simulator.screen import BACKOFF_CAP_S, reconnect_delay

    top = [reconnect_delay(n, rng=lambda: 0.999) for n in range(10)]
    assert top[0] < 1.0 < top[1] < 2.0 < top[2] < 4.0
    assert max(top) <= BACKOFF_CAP_S
    assert top[-1] > 0.99 * BACKOFF_CAP_S
    assert reconnect_delay(5, rng=lambda: 0.0) == 0.0  # full jitter: anywhere in the window


def test_the_reconnect_contract_honours_the_server() -> None:
    from simulator.screen import reconnect_delay

    # Retry-After (429/503 before the upgrade) is a floor under the jittered delay.
    assert reconnect_delay(0, retry_after_s=5, rng=lambda: 0.5) == 5
    assert reconnect_delay(9, retry_after_s=5, rng=lambda: 0.5) == 30.0
    # A draining node's reconnect frame says exactly when.
    assert reconnect_delay(7, after_ms=2_500, rng=lambda: 0.9) == 2.5


async def test_a_first_failed_attempt_backs_off_over_the_two_second_window(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/devices.md: after a failed attempt the window is ``1 s * 2^n``, ``n`` being the
    attempts in a row that did not reach ``welcome``: 2 s after the first, not 1 s."""
    import argparse
    import socket

    from simulator import screen
    from tests.waiting import eventually

    with socket.socket() as probe:  # a port nothing listens on: the attempt fails at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr("random.random", lambda: 0.999)
    args = argparse.Namespace(url=f"http://127.0.0.1:{port}", heartbeat_s=30.0)
    player = screen.SimScreen(index=7, device_id="d", secret="s", pairing_code="p")
    said: list[str] = []

    def reconnecting() -> bool:
        said.extend(capsys.readouterr().out.splitlines())
        return any("reconnecting in" in line for line in said)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(screen._session, args, player)
        await eventually(reconnecting, timeout_s=10)
        tasks.cancel_scope.cancel()
    assert any(line.endswith("reconnecting in 2.0 s") for line in said), said
