"""``signage serve`` stops, starts and fails like server software (real processes).

- SIGTERM with screens connected: each screen is told ``reconnect`` then closed 1012,
  the node logs how many sessions it drained and exits 0 within the grace period, even
  with a screen that never answers the close (a player gone quiet);
- a second signal exits at once;
- a port in use is one line on stderr and a non-zero exit, before "serving on";
- a database that is down at start is retried (one line per attempt) and, once it is
  up, served; down for good, one line and a non-zero exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from actors.protocol import CloseCode
from tests.emergencies.cluster import Cluster, cluster
from tests.pgurl import first_server, through
from tests.runtime.tcp_proxy import running_proxy
from tests.servers import REPO, free_port, quiet_screen
from tests.waiting import eventually

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

GRACE_S = 4.0
WAIT_S = 10.0


def _serve(tmp_path: Path, env: dict[str, str], port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env={**os.environ, "ENV": "test", "PYTHONPATH": str(REPO), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def node(tmp_path: Path, db_clean: str) -> Iterator[Cluster]:
    with cluster(tmp_path, db_clean, nodes=1, extra_env={"SHUTDOWN_GRACE_S": str(GRACE_S)}) as one:
        yield one


async def _opened(ws: ClientConnection) -> None:
    with anyio.fail_after(WAIT_S):
        types = [json.loads(await ws.recv())["type"] for _ in range(2)]
    assert types == ["welcome", "manifest"]


async def _told_to_reconnect(ws: ClientConnection) -> tuple[list[str], int | None]:
    """Every frame until the close, and the close code."""
    types: list[str] = []
    with anyio.fail_after(WAIT_S), contextlib.suppress(ConnectionClosed):
        async for raw in ws:
            types.append(json.loads(raw)["type"])
    return types, ws.close_code


def _exit_within(process: subprocess.Popen[bytes], limit_s: float) -> tuple[int, float]:
    started = time.monotonic()
    code = process.wait(limit_s)
    return code, time.monotonic() - started


async def test_sigterm_drains_every_screen_with_reconnect_and_1012_within_the_grace(
    node: Cluster,
) -> None:
    server = node.servers[0]
    (_, loud), (_, other), (_, quiet) = await anyio.to_thread.run_sync(node.screens, 3)
    hung = quiet_screen(server.port, quiet)
    try:
        async with (
            connect(node.ws_url(0), additional_headers={"Authorization": f"Bearer {loud}"}) as a,
            connect(node.ws_url(0), additional_headers={"Authorization": f"Bearer {other}"}) as b,
        ):
            await _opened(a)
            await _opened(b)
            server.process.send_signal(signal.SIGTERM)
            for ws in (a, b):
                types, code = await _told_to_reconnect(ws)
                assert types == ["reconnect"]
                assert code == CloseCode.SERVICE_RESTART
            code, took = await anyio.to_thread.run_sync(_exit_within, server.process, 15.0)
    finally:
        hung.close()
    assert code == 0, server.log()
    assert took < GRACE_S + 2.0, f"exited {took:.1f} s after SIGTERM"
    log = server.log()
    assert "draining 3 sessions" in log
    assert "node node-0 stopped" in log


async def test_a_second_signal_exits_at_once(node: Cluster) -> None:
    server = node.servers[0]
    [(_, quiet)] = await anyio.to_thread.run_sync(node.screens, 1)
    hung = quiet_screen(server.port, quiet)
    try:
        server.process.send_signal(signal.SIGTERM)
        await anyio.sleep(0.3)  # the first signal is being handled (no event to wait on)
        server.process.send_signal(signal.SIGTERM)
        code, took = await anyio.to_thread.run_sync(_exit_within, server.process, 15.0)
    finally:
        hung.close()
    assert code == 0, server.log()
    assert took < 2.5, f"exited {took:.1f} s after the second signal"
    assert "again: stopping now" in server.log()


def test_a_port_in_use_is_one_line_and_a_non_zero_exit(tmp_path: Path, db_clean: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _serve(tmp_path, {"DATABASE_URL": db_clean}, port)
        output, _ = process.communicate(timeout=30)
    assert process.returncode != 0
    assert f"signage: cannot listen on 127.0.0.1:{port}: address already in use" in output
    assert "Traceback" not in output
    assert "serving on" not in output


def test_a_database_down_for_good_is_one_line_per_attempt_then_a_non_zero_exit(
    tmp_path: Path, db_clean: str
) -> None:
    dead = through(db_clean, free_port())  # nothing listens there
    env = {"DATABASE_URL": dead, "DB_START_ATTEMPTS": "3", "DB_START_BACKOFF_MAX_S": "0.2"}
    process = _serve(tmp_path, env, free_port())
    output, _ = process.communicate(timeout=60)
    assert process.returncode not in (0, None)
    assert "Traceback" not in output
    attempts = [line for line in output.splitlines() if "database unreachable (attempt" in line]
    assert len(attempts) == 2, output  # the third failure is the final line
    assert (
        output.strip()
        .splitlines()[-1]
        .startswith("signage: database unreachable after 3 attempt(s): ")
    )


async def test_a_database_that_comes_up_late_is_waited_for(tmp_path: Path, db_clean: str) -> None:
    async with running_proxy(*first_server(db_clean)) as proxy:
        proxy.refuse = True
        port = free_port()
        env = {"DATABASE_URL": through(db_clean, proxy.port), "DB_START_BACKOFF_MAX_S": "0.5"}
        process = _serve(tmp_path, env, port)
        try:
            assert process.stdout is not None
            lines: list[str] = []
            with anyio.fail_after(30):
                while not any("database unreachable (attempt 2" in line for line in lines):
                    line = await anyio.to_thread.run_sync(process.stdout.readline)
                    assert line, "the node exited:\n" + "".join(lines)
                    lines.append(line)
                proxy.refuse = False
                while not any("serving on" in line for line in lines):
                    line = await anyio.to_thread.run_sync(process.stdout.readline)
                    assert line, "the node exited:\n" + "".join(lines)
                    lines.append(line)
        finally:
            process.send_signal(signal.SIGTERM)
            await anyio.to_thread.run_sync(process.wait, 15.0)
            if process.stdout is not None:
                process.stdout.close()
        assert process.returncode == 0


def test_a_signal_while_starting_stops_the_start_cleanly(tmp_path: Path, db_clean: str) -> None:
    dead = through(db_clean, free_port())  # nothing listens there: the start keeps retrying
    env = {"DATABASE_URL": dead, "DB_START_ATTEMPTS": "100", "DB_START_BACKOFF_MAX_S": "0.2"}
    process = _serve(tmp_path, env, free_port())
    assert process.stdout is not None
    lines: list[str] = []
    while not any("database unreachable (attempt" in line for line in lines):
        line = process.stdout.readline()  # bounded: the process exits or logs within seconds
        assert line, "the node exited:\n" + "".join(lines)
        lines.append(line)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=10)
    assert process.returncode == 0, "".join(lines) + output
    assert "stopped before serving" in output
    assert "Traceback" not in output


@pytest.fixture
def slow_writer(tmp_path: Path, db_clean: str) -> Iterator[Cluster]:
    """A node whose batched writers would not flush by themselves during the test."""
    env = {"SHUTDOWN_GRACE_S": str(GRACE_S), "EMERGENCY_ACK_FLUSH_S": "60"}
    with cluster(tmp_path, db_clean, nodes=1, extra_env=env) as one:
        yield one


def _scalar(database_url: str, query: str, *params: object) -> object:
    import psycopg

    with psycopg.connect(database_url) as conn:
        row = conn.execute(query, params).fetchone()
    return row[0] if row else None


def _acks_received(base_url: str) -> float:
    import urllib.request

    with urllib.request.urlopen(f"{base_url}/metrics", timeout=5) as r:  # noqa: S310
        text = r.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith('signage_device_acks_total{kind="emergency"')
    )


async def test_sigterm_writes_every_acknowledgement_and_last_seen_before_exit(
    slow_writer: Cluster, db_clean: str
) -> None:
    """Acks and last-seen times are batched in memory; a SIGTERM flushes them: nothing a
    screen acknowledged is lost to a graceful stop."""
    node = slow_writer
    server = node.servers[0]
    screens = await anyio.to_thread.run_sync(node.screens, 5)
    async with contextlib.AsyncExitStack() as stack:
        sockets = [
            await stack.enter_async_context(
                connect(node.ws_url(0), additional_headers={"Authorization": f"Bearer {s}"})
            )
            for _device, s in screens
        ]
        for ws in sockets:
            await _opened(ws)
        answer = await anyio.to_thread.run_sync(
            node.operator.call,
            "POST",
            f"/api/v1/tenants/{node.tenant_id}/emergencies",
            {"message": "Stay put", "severity": "warning", "target": {"all": True}},
        )
        for ws in sockets:
            with anyio.fail_after(WAIT_S):
                frame = json.loads(await ws.recv())
            assert frame["type"] == "emergency"
            await ws.send(json.dumps({"type": "ack", "emergency_id": frame["id"]}))
            await ws.send(json.dumps({"type": "heartbeat"}))
        await eventually(lambda: _acks_received(server.base_url) == len(sockets), timeout_s=WAIT_S)
        stored = "SELECT count(*) FROM emergency_acks WHERE emergency_id = %s"
        assert _scalar(db_clean, stored, answer["id"]) == 0  # still only in the node's memory
        server.process.send_signal(signal.SIGTERM)
        code, _took = await anyio.to_thread.run_sync(_exit_within, server.process, 15.0)
    assert code == 0, server.log()
    assert _scalar(db_clean, stored, answer["id"]) == len(sockets)
    seen = "SELECT count(*) FROM devices WHERE last_seen_at IS NOT NULL AND last_node = 'node-0'"
    assert _scalar(db_clean, seen) == len(sockets)
