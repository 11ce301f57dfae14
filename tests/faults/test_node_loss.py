"""A node lost with ``kill -9``: three real nodes behind one address list, screens spread
over them, each a player following the reconnect contract of docs/devices.md (full-jitter
backoff, next address on failure). One node is killed; an emergency is triggered at once.

Asserted: every screen of the dead node is back on a live one within 10 s; every screen —
moved or not — receives the emergency (a moved screen within 2 s of its new welcome, the
others within 2 s of the trigger) and its acknowledgement is stored; presence names the
node each screen is on now.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from tests.emergencies.cluster import Cluster, cluster, stored_acks
from tests.emergencies.test_emergency_cluster import PROMISE_S
from tests.faults.players import Player
from tests.waiting import eventually

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.timeout(180)]

NODES = 3
SCREENS = 30
KILLED = 2  # the admin talks to node 0, the operator to node 1
BACK_WITHIN_S = 10.0


@pytest.fixture
def nodes(tmp_path: Path, db_clean: str) -> Iterator[Cluster]:
    with cluster(tmp_path, db_clean, nodes=NODES) as three:
        yield three


def _presence(nodes: Cluster) -> dict[str, str | None]:
    page = nodes.admin.call("GET", f"/api/v1/tenants/{nodes.tenant_id}/devices?limit=100")
    return {d["id"]: d.get("node_id") if d["online"] else None for d in page["items"]}


async def test_a_killed_nodes_screens_are_back_on_the_others_and_miss_no_emergency(
    nodes: Cluster, db_clean: str
) -> None:
    credentials = await anyio.to_thread.run_sync(nodes.screens, SCREENS)
    urls = [nodes.ws_url(i) for i in range(NODES)]
    players = [
        Player(secret, urls, at=i % NODES, open_timeout_s=3)
        for i, (_d, secret) in enumerate(credentials)
    ]
    devices = [device for device, _secret in credentials]
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        for player in players:
            tg.start_soon(player.run, stop)
        await eventually(lambda: all(p.welcomes for p in players), timeout_s=20)
        lost = [p for p in players if p.node == KILLED]
        assert lost, "no screen was on the node to kill"

        nodes.servers[KILLED].process.kill()  # SIGKILL: no drain, no goodbye
        killed_at = time.monotonic()
        answer = await anyio.to_thread.run_sync(
            nodes.operator.call,
            "POST",
            f"/api/v1/tenants/{nodes.tenant_id}/emergencies",
            {"message": "Node lost: evacuate", "severity": "critical", "target": {"all": True}},
        )
        triggered_at = time.monotonic()
        emergency_id = answer["id"]

        await eventually(
            lambda: all(p.welcome_after(killed_at) for p in lost), timeout_s=BACK_WITHIN_S
        )
        await eventually(lambda: all(emergency_id in p.emergencies for p in players), timeout_s=10)
        await eventually(lambda: stored_acks(db_clean, emergency_id) == SCREENS, timeout_s=10)
        expected = {devices[i]: f"node-{p.node}" for i, p in enumerate(players)}
        await eventually(lambda: _presence(nodes) == expected, timeout_s=10, every_s=0.2)
        stop.set()  # every player closes its session (bounded: open and close timeouts)

    for player in lost:
        back = player.welcome_after(killed_at)
        assert back is not None
        assert back - killed_at < BACK_WITHIN_S
        assert player.node != KILLED
        # Delivered on the session it got back: within the promise of that welcome.
        assert player.emergencies[emergency_id] - max(back, triggered_at) < PROMISE_S
    for player in players:
        if player not in lost:
            assert player.emergencies[emergency_id] - triggered_at < PROMISE_S
