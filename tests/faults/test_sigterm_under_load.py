"""SIGTERM under load: a real node holding a few hundred screens is stopped while
screens are acknowledging an emergency and some screens have stopped reading.

The node runs on the real PostgreSQL and a private Redis, with the ack writer's own flush
pushed out of reach (``EMERGENCY_ACK_FLUSH_S=60``): what reaches PostgreSQL after the
signal is what the shutdown's final flush wrote. Of the screens, :data:`QUIET` never read
(their 4 KiB receive buffers fill with the emergencies sent before the signal, and they
answer neither ``reconnect`` nor the close); the others read everything and acknowledge
every emergency at once. The last emergency is triggered, and SIGTERM is sent as soon as
every reading screen has *sent* its acknowledgement (most are still in flight, in the
node's socket buffers or in a device actor's mailbox, when the drain starts).

Asserted: the process exits 0 within the grace period (the contract: the drain is bounded
whatever the screens do); every reading screen was told ``reconnect`` and then closed 1012;
the node drained every session and dropped exactly the quiet ones at the close-reply
deadline; and every acknowledgement a reading screen sent before its
close is in PostgreSQL afterwards (nothing acknowledged is lost). How fast a node drains
10,000 sessions is measured by ``bench/shutdown_drain.py``, not asserted here.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import psycopg
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.emergency_setup import Fleet, provision, request
from tests.emergencies.cluster import Cluster, cluster
from tests.servers import quiet_screen
from tests.waiting import eventually

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.timeout(300)]

SCREENS = 300
#: Screens that stop reading once upgraded (every 10th).
QUIET = SCREENS // 10
#: Emergencies sent before the last one: ~1 KiB each, enough to fill a quiet screen's
#: receive buffer.
FILLERS = 12
GRACE_S = 4.0
#: The drain is bounded by the grace; the rest is the final flush and the process exit.
EXIT_WITHIN_S = GRACE_S + 2.0
WAIT_S = 60.0


@pytest.fixture
def node(tmp_path: Path, db_clean: str) -> Iterator[Cluster]:
    env = {"SHUTDOWN_GRACE_S": str(GRACE_S), "EMERGENCY_ACK_FLUSH_S": "60"}
    with cluster(tmp_path, db_clean, nodes=1, extra_env=env) as one:
        yield one


@dataclass
class Screen:
    """A reading screen: every frame type it got, the acks it sent, how it was closed."""

    secret: str
    types: list[str] = field(default_factory=list)
    acked: set[str] = field(default_factory=set)
    close_code: int | None = None
    ended: anyio.Event = field(default_factory=anyio.Event)

    @property
    def opened(self) -> bool:
        return "manifest" in self.types

    async def play(self, url: str) -> None:
        headers = {"Authorization": f"Bearer {self.secret}"}
        try:
            async with connect(url, additional_headers=headers, close_timeout=2) as ws:
                await self._read(ws)
        finally:
            self.ended.set()

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                frame = json.loads(raw)
                self.types.append(frame["type"])
                if frame["type"] == "emergency":
                    await ws.send(json.dumps({"type": "ack", "emergency_id": frame["id"]}))
                    self.acked.add(frame["id"])
        self.close_code = ws.close_code


def _trigger(base_url: str, fleet: Fleet, message: str) -> str:
    path = f"/api/v1/tenants/{fleet.tenant_id}/emergencies"
    body = {"message": message, "severity": "critical", "target": {"all": True}}
    status, raw = request("POST", base_url, path, body, fleet.operator_token)
    assert status == 201, raw
    return str(json.loads(raw)["id"])


def _stored_acks(database_url: str) -> dict[str, set[str]]:
    """Every stored acknowledgement: emergency id → the devices that acknowledged it."""
    found: dict[str, set[str]] = {}
    with psycopg.connect(database_url) as conn:
        for emergency, device in conn.execute(
            "SELECT emergency_id::text, device_id::text FROM emergency_acks"
        ):
            found.setdefault(emergency, set()).add(device)
    return found


def _exit_within(process: subprocess.Popen[bytes], limit_s: float) -> tuple[int, float]:
    started = time.monotonic()
    code: int = process.wait(limit_s)
    return code, time.monotonic() - started


async def test_sigterm_with_hundreds_of_screens_loses_no_ack_and_closes_every_reader_1012(
    node: Cluster, db_clean: str
) -> None:
    server = node.servers[0]
    fleet: Fleet = await anyio.to_thread.run_sync(
        lambda: provision(server.base_url, db_clean, SCREENS, via="sql")
    )
    devices = dict(zip(fleet.secrets, fleet.device_ids, strict=True))
    quiet_secrets, reading_secrets = fleet.secrets[:QUIET], fleet.secrets[QUIET:]
    screens = [Screen(secret) for secret in reading_secrets]
    quiet: list[socket.socket] = []
    try:
        for secret in quiet_secrets:
            quiet.append(await anyio.to_thread.run_sync(quiet_screen, server.port, secret))
        async with anyio.create_task_group() as players:
            for screen in screens:
                players.start_soon(screen.play, node.ws_url(0))
            await eventually(lambda: all(s.opened for s in screens), timeout_s=WAIT_S)
            fillers = [
                await anyio.to_thread.run_sync(
                    _trigger, server.base_url, fleet, f"Filler {n}: " + "x" * 980
                )
                for n in range(FILLERS)
            ]
            await eventually(
                lambda: all(s.acked >= set(fillers) for s in screens), timeout_s=WAIT_S
            )
            last = await anyio.to_thread.run_sync(_trigger, server.base_url, fleet, "Leave now")
            await eventually(lambda: all(last in s.acked for s in screens), timeout_s=WAIT_S)
            server.process.send_signal(signal.SIGTERM)  # the last acks are still in flight
            code, took = await anyio.to_thread.run_sync(
                _exit_within, server.process, EXIT_WITHIN_S + 30
            )
            with anyio.fail_after(WAIT_S):
                for screen in screens:
                    await screen.ended.wait()
    finally:
        for sock in quiet:
            sock.close()
    log = server.log()
    assert code == 0, log
    assert took < EXIT_WITHIN_S, f"exited {took:.1f} s after SIGTERM"
    assert f"draining {SCREENS} sessions" in log
    # Dropped at the close-reply deadline: the quiet screens, and none that answered.
    assert f"{QUIET} screens did not answer the close" in log
    wrong = [
        (devices[s.secret], s.close_code, s.types[-3:])
        for s in screens
        if s.close_code != 1012 or s.types[-1] != "reconnect"
    ]
    assert not wrong, f"{len(wrong)} reading screens not told reconnect + 1012: {wrong[:5]}"
    stored = _stored_acks(db_clean)
    lost = {
        emergency: len(missing)
        for emergency in [*fillers, last]
        if (missing := {devices[s.secret] for s in screens} - stored.get(emergency, set()))
    }
    assert not lost, f"acknowledged but not stored (emergency → screens): {lost}"
