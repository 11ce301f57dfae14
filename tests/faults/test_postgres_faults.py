"""PostgreSQL faults against a real ``signage serve`` process: every connection of the node
cut (``pg_terminate_backend``) while screens are connected. The sessions stay up (no
reconnect, no re-registration), an admin write right after the cut answers 201 or a clean
503 problem (never a hang, never a 500), and the emergency it commits reaches the screen
on the session it already had."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest
from websockets.asyncio.client import connect

from tests.emergencies.cluster import Api, Cluster, cluster
from tests.emergencies.test_emergency_cluster import PROMISE_S, Screen

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ATTEMPTS = 10
CALL_TIMEOUT_S = 10.0


@pytest.fixture
def node(tmp_path: Path, db_clean: str) -> Any:
    with cluster(tmp_path, db_clean, nodes=1) as one:
        yield one


def _cut_every_node_connection(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE 'signage:%%'"
        ).fetchall()
    return len(rows)


def _post(api: Api, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    status, answer = api.answer("POST", path, body, timeout_s=CALL_TIMEOUT_S)
    return status, answer or {}


def _trigger_through_the_fault(nodes: Cluster) -> tuple[str, list[int]]:
    """POST an emergency until it is committed; every answer must be 201 or 503."""
    path = f"/api/v1/tenants/{nodes.tenant_id}/emergencies"
    body = {"message": "Evacuate (after the cut)", "severity": "critical", "target": {"all": True}}
    statuses: list[int] = []
    for _ in range(ATTEMPTS):
        status, answer = _post(nodes.operator, path, body)
        statuses.append(status)
        assert status in (201, 503), (status, answer)
        if status == 201:
            return str(answer["id"]), statuses
        assert answer.get("status") == 503  # problem+json
    raise AssertionError(f"never committed: {statuses}")


async def test_cut_database_connections_end_no_session_and_lose_no_emergency(
    node: Cluster, db_clean: str
) -> None:
    [(_, secret)] = await anyio.to_thread.run_sync(node.screens, 1)
    async with connect(
        node.ws_url(0), additional_headers={"Authorization": f"Bearer {secret}"}
    ) as ws:
        with anyio.fail_after(5):
            assert json.loads(await ws.recv())["type"] == "welcome"
        screen = Screen(ws)
        cut = await anyio.to_thread.run_sync(_cut_every_node_connection, db_clean)
        assert cut >= 1, "the node had no connection to cut"
        emergency_id, statuses = await anyio.to_thread.run_sync(_trigger_through_the_fault, node)
        committed = time.monotonic()
        await screen.collect({emergency_id}, timeout=PROMISE_S + 3.0)
        assert screen.arrivals[emergency_id] - committed < PROMISE_S, statuses
    # The session it had all along: the socket closed only when the test left.
    with psycopg.connect(db_clean) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM emergencies WHERE id = %s", (emergency_id,)
        ).fetchone()
    assert stored == (1,)
