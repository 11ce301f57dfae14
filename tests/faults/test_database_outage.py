"""PostgreSQL unreachable, and PostgreSQL's pool exhausted, under a real ``signage serve``
process whose ``DATABASE_URL`` goes through a TCP proxy the test controls.

Outage: every connection cut and new ones refused for several seconds, right after the
screens acknowledged an emergency (so the acks are still in the node's buffer). Asserted:
no session ends and none re-registers, no tenant actor restarts, admin reads and writes
answer a 503 problem within the connect timeout (never a hang, never a 500), ``/ready``
says unavailable; once PostgreSQL is back everything resumes by itself — the acks held
through the outage are stored, and an emergency triggered then reaches every screen on
the session it already had.

Pool exhaustion: the pool's every connection pinned by writes waiting on a lock held by
another client. Asserted: one more request waits at most the pool timeout and answers 503;
the pinned writes complete once the lock goes; nothing committed is lost.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest

from tests.emergencies.cluster import Api, Cluster, cluster, stored_acks
from tests.emergencies.test_emergency_cluster import PROMISE_S, Screen, screens_on
from tests.pgurl import first_server, through
from tests.runtime.tcp_proxy import ThreadedProxy, threaded_proxy
from tests.waiting import eventually

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.timeout(180)]

SCREENS = 5
CONNECT_TIMEOUT_S = 1.0
#: A 503 must come within the connect timeout plus the request's own work.
ANSWER_WITHIN_S = CONNECT_TIMEOUT_S + 2.0
OUTAGE_S = 4.0


@pytest.fixture
def proxy(db_clean: str) -> Iterator[ThreadedProxy]:
    with threaded_proxy(*first_server(db_clean)) as running:
        yield running


def _request(api: Api, method: str, path: str, body: Any = None) -> tuple[int, Any, float]:
    """Status, JSON answer and seconds taken; a 503 problem must say when to come back
    (``/ready``'s 503 is for load balancers and has its own body)."""
    started = time.monotonic()
    status, answer, headers = api.exchange(method, path, body)
    took = time.monotonic() - started
    if status == 503 and headers.get_content_type() == "application/problem+json":
        assert int(headers["Retry-After"]) >= 1, (path, dict(headers))
    return status, answer, took


def _tenant_restarts(nodes: Cluster) -> dict[str, int]:
    page = nodes.admin.call("GET", "/api/v1/ops/actors?kind=tenant&limit=100")
    return {a["id"]: a["restarts"] for a in page["items"]}


def _device_actors(nodes: Cluster) -> int:
    return len(nodes.admin.call("GET", "/api/v1/ops/actors?kind=device&limit=100")["items"])


async def _trigger(nodes: Cluster, message: str) -> str:
    answer = await anyio.to_thread.run_sync(
        nodes.operator.call,
        "POST",
        f"/api/v1/tenants/{nodes.tenant_id}/emergencies",
        {"message": message, "severity": "critical", "target": {"all": True}},
    )
    return str(answer["id"])


async def _receive_and_ack(screens: list[Screen], emergency_id: str) -> None:
    for screen in screens:
        await screen.collect({emergency_id}, PROMISE_S)
        await screen.ws.send(json.dumps({"type": "ack", "emergency_id": emergency_id}))


def _assert_unavailable(answer: tuple[int, Any, float], what: str) -> None:
    status, body, took = answer
    assert status == 503, (what, status, body)
    assert body["status"] == 503, (what, body)  # problem+json
    assert body["type"].endswith("/503"), (what, body)
    assert took <= ANSWER_WITHIN_S, (what, f"answered after {took:.1f} s")


async def test_a_database_outage_ends_no_session_and_loses_no_acknowledgement(
    tmp_path: Path, db_clean: str, proxy: ThreadedProxy
) -> None:
    env = {
        "DB_CONNECT_TIMEOUT_S": str(CONNECT_TIMEOUT_S),
        # Acks wait in the node's buffer long enough for the outage to find them there.
        "EMERGENCY_ACK_FLUSH_S": "2",
    }
    url = through(db_clean, proxy.port)
    with cluster(tmp_path, url, nodes=1, extra_env=env) as nodes:
        tenants = nodes.tenant_id
        async with screens_on(nodes, SCREENS) as screens:
            before = await _trigger(nodes, "Before the outage")
            await _receive_and_ack(screens, before)
            restarts = await anyio.to_thread.run_sync(_tenant_restarts, nodes)
            devices = await anyio.to_thread.run_sync(_device_actors, nodes)
            assert devices == SCREENS

            await anyio.to_thread.run_sync(proxy.down)
            outage_ends = time.monotonic() + OUTAGE_S
            write = await anyio.to_thread.run_sync(
                _request,
                nodes.admin,
                "PATCH",
                f"/api/v1/tenants/{tenants}",
                {"name": "Renamed during the outage"},
            )
            _assert_unavailable(write, "admin write")
            read = await anyio.to_thread.run_sync(
                _request, nodes.admin, "GET", f"/api/v1/tenants/{tenants}/devices"
            )
            _assert_unavailable(read, "admin read")
            trigger = await anyio.to_thread.run_sync(
                _request,
                nodes.operator,
                "POST",
                f"/api/v1/tenants/{tenants}/emergencies",
                {"message": "During", "severity": "critical", "target": {"all": True}},
            )
            _assert_unavailable(trigger, "emergency trigger")
            ready = await anyio.to_thread.run_sync(_request, nodes.admin, "GET", "/ready")
            assert ready[0] == 503, ready
            # Screens keep talking to the node the whole time; none is closed.
            while time.monotonic() < outage_ends:
                for screen in screens:
                    await screen.ws.send(json.dumps({"type": "heartbeat"}))
                await anyio.sleep(0.5)  # the outage's length, not a synchronisation
            await anyio.to_thread.run_sync(proxy.up)

            def ready_again() -> bool:
                return _request(nodes.admin, "GET", "/ready")[0] == 200

            await eventually(ready_again, timeout_s=20, every_s=0.2)
            # The acks held through the outage are written, none lost.
            await eventually(
                lambda: stored_acks(db_clean, before) == SCREENS, timeout_s=20, every_s=0.2
            )
            after = await _trigger(nodes, "After the outage")
            triggered = time.monotonic()
            for screen in screens:
                await screen.collect({after}, PROMISE_S)
                assert screen.arrivals[after] - triggered <= PROMISE_S
            for screen in screens:  # the same sessions: nothing but emergencies arrived
                assert screen.ws.close_code is None
            assert await anyio.to_thread.run_sync(_tenant_restarts, nodes) == restarts
            assert await anyio.to_thread.run_sync(_device_actors, nodes) == SCREENS


async def test_an_exhausted_pool_answers_503_within_its_timeout_and_loses_no_write(
    tmp_path: Path, db_clean: str
) -> None:
    env = {"DB_POOL_MIN": "1", "DB_POOL_MAX": "2", "DB_CONNECT_TIMEOUT_S": str(CONNECT_TIMEOUT_S)}
    with cluster(tmp_path, db_clean, nodes=1, extra_env=env) as nodes:
        path = f"/api/v1/tenants/{nodes.tenant_id}/playlists"
        pinned: list[tuple[int, Any, float]] = []
        with psycopg.connect(db_clean) as blocker:
            blocker.execute("LOCK TABLE playlists IN ACCESS EXCLUSIVE MODE")
            writers = [
                threading.Thread(
                    target=lambda n=n: pinned.append(
                        _request(nodes.admin, "POST", path, {"name": f"pinned {n}", "items": []})
                    )
                )
                for n in range(2)
            ]
            for writer in writers:
                writer.start()

            def both_waiting() -> bool:
                with psycopg.connect(db_clean) as conn:
                    row = conn.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND application_name LIKE 'signage:%%' AND datname = current_database()"
                    ).fetchone()
                return row is not None and int(row[0]) == 2

            await eventually(both_waiting, timeout_s=10, every_s=0.1)
            extra = await anyio.to_thread.run_sync(
                _request, nodes.admin, "GET", f"/api/v1/tenants/{nodes.tenant_id}/devices"
            )
            _assert_unavailable(extra, "a request past the pool")
            blocker.rollback()  # the lock goes
        for writer in writers:
            await anyio.to_thread.run_sync(writer.join, 20.0)
        assert sorted(status for status, _body, _took in pinned) == [201, 201], pinned
        listed = await anyio.to_thread.run_sync(nodes.admin.call, "GET", path)
        assert {p["name"] for p in listed["items"]} == {"pinned 0", "pinned 1"}
        status, _body, _took = await anyio.to_thread.run_sync(
            _request, nodes.admin, "GET", f"/api/v1/tenants/{nodes.tenant_id}/devices"
        )
        assert status == 200
