"""PostgreSQL failover under two real ``signage serve`` nodes: a primary with a synchronous
streaming standby (tests/faults/pgstandby.py), the nodes given both in one multi-host
``DATABASE_URL`` (``target_session_attrs=read-write``), screens connected to each node,
admin writes flowing through both. The primary is stopped (``-m immediate``, by pid) and
the standby promoted:

- every admin write answers 201 or a 503 problem within the bound (never a hang, never
  a 500), and writes succeed again once the standby is promoted — the pools found it
  by themselves;
- every write acknowledged (201) before or during the switch is on the promoted server;
- an emergency triggered after the promotion reaches every screen, on the session it had
  before the failover (none was closed or reopened).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.protocol import State

from store.migrations import migrate
from tests.emergencies.cluster import Api, Cluster, cluster
from tests.emergencies.test_emergency_cluster import PROMISE_S, screens_on
from tests.faults.pgstandby import PrimaryAndStandby, primary_and_standby
from tests.waiting import eventually

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

#: The nodes' DB_CONNECT_TIMEOUT_S: how long a request may wait for a connection.
CONNECT_TIMEOUT_S = 2.0
#: A write answers within the connect timeout plus this (HTTP, the use case, the audit).
MARGIN_S = 1.5
#: The client gives up (and the test fails) after this: a hang, not a slow answer.
HANG_S = 15.0
#: Once promoted, how long the nodes may take to write again.
RECOVERY_S = 20.0
NODES = 2


@dataclass
class Write:
    slug: str
    node: int
    started: float
    took: float
    status: int | None  # None: no answer within HANG_S
    body: dict[str, Any]


@dataclass
class Writers:
    """One thread per node creating tenants back to back until told to stop."""

    nodes: Cluster
    stop: threading.Event = field(default_factory=threading.Event)
    writes: list[Write] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, node: int) -> None:
        api = self.nodes.admin.on(self.nodes.servers[node])
        while not self.stop.is_set():
            write = _create_tenant(api, node)
            with self.lock:
                self.writes.append(write)

    def since(self, moment: float) -> list[Write]:
        with self.lock:
            return [w for w in self.writes if w.started >= moment]

    def acknowledged(self) -> list[str]:
        with self.lock:
            return [w.slug for w in self.writes if w.status == 201]


def _post(api: Api, path: str, body: dict[str, Any]) -> tuple[int | None, dict[str, Any]]:
    """The status and body of one POST (an error's body with its ``content_type``);
    ``None`` if no answer came within ``HANG_S``."""
    try:
        status, answer, headers = api.exchange("POST", path, body, timeout_s=HANG_S)
    except (TimeoutError, urllib.error.URLError):
        return None, {}
    answer = dict(answer or {})
    if status >= 400:
        answer["content_type"] = headers.get("Content-Type")
    return status, answer


def _create_tenant(api: Api, node: int) -> Write:
    slug = f"t-{secrets.token_hex(6)}"
    started = time.monotonic()
    status, body = _post(api, "/api/v1/tenants", {"name": f"Failover {slug}", "slug": slug})
    return Write(slug, node, started, time.monotonic() - started, status, body)


@pytest.fixture
def pair() -> Iterator[PrimaryAndStandby]:
    with primary_and_standby() as servers:
        asyncio.run(migrate(servers.url))
        yield servers


def _trigger_after_promotion(nodes: Cluster) -> str:
    """POST an emergency through the operator's node until committed (201 or 503 only)."""
    path = f"/api/v1/tenants/{nodes.tenant_id}/emergencies"
    body = {"message": "Evacuate (after failover)", "severity": "critical", "target": {"all": True}}
    statuses: list[int | None] = []
    deadline = time.monotonic() + RECOVERY_S
    while time.monotonic() < deadline:
        status, answer = _post(nodes.operator, path, body)
        statuses.append(status)
        if status == 201:
            return str(answer["id"])
        assert status == 503, (statuses, answer)
    raise AssertionError(f"never committed after the promotion: {statuses}")


def _stored_slugs(pair: PrimaryAndStandby, slugs: list[str]) -> set[str]:
    rows = pair.standby.query("SELECT slug FROM tenants WHERE slug = ANY(%s)", (slugs,))
    return {str(slug) for (slug,) in rows}


def _open(ws: ClientConnection) -> bool:
    return ws.state is State.OPEN


async def test_primary_lost_and_standby_promoted_nodes_carry_on_losing_no_write(
    tmp_path: Path, pair: PrimaryAndStandby
) -> None:
    env = {"DB_CONNECT_TIMEOUT_S": str(CONNECT_TIMEOUT_S), "DB_START_ATTEMPTS": "3"}
    with cluster(tmp_path, pair.url, nodes=NODES, extra_env=env) as nodes:
        async with screens_on(nodes, 2 * NODES) as screens:
            sockets_before = [id(s.ws) for s in screens]
            writers = Writers(nodes)
            async with anyio.create_task_group() as group:
                for node in range(NODES):
                    group.start_soon(anyio.to_thread.run_sync, writers.run, node)
                try:
                    await eventually(lambda: len(writers.acknowledged()) >= 2 * NODES)
                    killed = time.monotonic()
                    await anyio.to_thread.run_sync(pair.primary.kill_immediately)
                    # The writes in flight and those after the loss, before any promotion.
                    await eventually(
                        lambda: {w.node for w in writers.since(killed + 0.2)} == set(range(NODES))
                    )
                    await anyio.to_thread.run_sync(pair.standby.promote)
                    promoted = time.monotonic()
                    await eventually(
                        lambda: (
                            {w.node for w in writers.since(promoted) if w.status == 201}
                            == set(range(NODES))
                        ),
                        timeout_s=RECOVERY_S,
                    )
                finally:
                    writers.stop.set()
            recovered = min(w.started + w.took for w in writers.since(promoted) if w.status == 201)

            during = [w for w in writers.writes if w.started >= killed]
            odd = [(w.status, w.body) for w in during if w.status not in (201, 503)]
            assert not odd, f"neither 201 nor 503 during the failover: {odd[:3]}"
            refused = [w for w in during if w.status == 503]
            assert refused, "no write was refused: the primary was not lost"
            for w in refused:
                assert w.body["status"] == 503, w.body
                assert w.body["content_type"] == "application/problem+json", w.body
            slowest = max(w.took for w in writers.writes)
            assert slowest < CONNECT_TIMEOUT_S + MARGIN_S, slowest

            acknowledged = writers.acknowledged()
            missing = set(acknowledged) - await anyio.to_thread.run_sync(
                _stored_slugs, pair, acknowledged
            )
            assert not missing, f"{len(missing)} acknowledged writes lost"

            emergency = await anyio.to_thread.run_sync(_trigger_after_promotion, nodes)
            committed = time.monotonic()
            for screen in screens:
                await screen.collect({emergency}, timeout=PROMISE_S + 3.0)
            assert max(s.arrivals[emergency] for s in screens) - committed < PROMISE_S
            assert [id(s.ws) for s in screens] == sockets_before
            assert all(_open(s.ws) for s in screens), "a screen session closed"
        print(  # the figures for docs/operations.md (pytest -s)
            f"failover: {len(writers.writes)} writes, {len(acknowledged)} acknowledged,"
            f" {len(refused)} refused (503), slowest answer {slowest:.2f} s,"
            f" writes again {recovered - promoted:.2f} s after the promotion"
        )
