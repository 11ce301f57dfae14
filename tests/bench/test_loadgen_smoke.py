"""The load generator and the baseline server together, small: every session gets the frame.

Real processes (a baseline server, two generator workers) on loopback; about 50 sessions,
so that CI notices when either side rots without paying for a benchmark.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from bench.baseline_control import BaselineServer
from bench.fanout_baseline import emergency_payload
from bench.loadgen import LoadGenerator, SessionPlan, Triggered
from bench.loopback import NotLoopback

SESSIONS = 50
#: Generous: a round on loopback takes milliseconds; this only bounds a broken run.
ROUND_TIMEOUT_S = 5.0

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def server() -> Iterator[BaselineServer]:
    with BaselineServer(max_lifetime_s=120) as running:
        yield running


def test_every_session_receives_the_broadcast_frame(server: BaselineServer) -> None:
    rss_before = server.rss_kib()
    plan = SessionPlan(
        url=server.ws_url,
        count=SESSIONS,
        workers=2,
        auth="bearer",
        tokens=tuple(f"token-{i}" for i in range(SESSIONS)),
    )
    with LoadGenerator(plan) as generator:
        opened = generator.open()
        assert (opened.ready, opened.failed, opened.errors) == (SESSIONS, 0, {})
        assert server.wait_connections(SESSIONS, timeout_s=5) == SESSIONS
        assert server.rss_kib() > rss_before

        for round_number in range(2):  # a second round on the same sessions works too
            marker = f"smoke-{round_number}"
            summary = generator.run_round(
                server.trigger_for(emergency_payload(marker)), marker.encode(), ROUND_TIMEOUT_S
            )
            assert (summary.expected, summary.received, summary.missing) == (SESSIONS, SESSIONS, 0)
            assert summary.complete
            assert summary.first_ms is not None
            assert summary.p50_ms is not None
            assert summary.p99_ms is not None
            assert summary.last_ms is not None
            assert 0 < summary.first_ms <= summary.p50_ms <= summary.p99_ms <= summary.last_ms
            assert summary.last_ms < ROUND_TIMEOUT_S * 1000
            assert len(summary.latencies_ms) == SESSIONS
            assert summary.triggered.status == 200
            assert (summary.errors, summary.closed_before, summary.lost) == ({}, 0, 0)
    assert server.wait_connections(0, timeout_s=5) == 0


def test_sessions_that_never_see_the_marker_are_reported_missing(server: BaselineServer) -> None:
    plan = SessionPlan(
        url=server.ws_url,
        count=SESSIONS,
        workers=1,
        auth="hello",
        tokens=tuple(f"token-{i}" for i in range(SESSIONS)),
        stall_every=10,
    )
    with LoadGenerator(plan) as generator:
        opened = generator.open()
        assert (opened.ready, opened.stalled) == (SESSIONS, SESSIONS // 10)

        seen = generator.run_round(
            server.trigger_for(emergency_payload("seen")), b"seen", ROUND_TIMEOUT_S
        )
        assert (seen.expected, seen.received) == (SESSIONS - SESSIONS // 10, seen.expected)

        unseen = generator.run_round(
            server.trigger_for(emergency_payload("other")), b"never-sent", timeout_s=0.3
        )
        assert (unseen.received, unseen.missing) == (0, unseen.expected)
        assert unseen.first_ms is None
        assert unseen.last_ms is None
        assert not unseen.complete


def test_reconnect_storm_replacements_are_expected_and_stay(server: BaselineServer) -> None:
    plan = SessionPlan(url=server.ws_url, count=SESSIONS, workers=2)
    with LoadGenerator(plan) as generator:
        assert generator.open().ready == SESSIONS

        # 20 % of each worker's 25 sessions drop and reconnect while the trigger fires; the
        # baseline replays its last frame on connect, so every replacement gets it too.
        stormy = generator.run_round(
            server.trigger_for(emergency_payload("storm")),
            b"storm",
            ROUND_TIMEOUT_S,
            reconnect_fraction=0.2,
        )
        assert (stormy.expected, stormy.received, stormy.reconnected) == (SESSIONS, SESSIONS, 10)
        assert stormy.errors == {}

        calm = generator.run_round(
            server.trigger_for(emergency_payload("calm")), b"calm", ROUND_TIMEOUT_S
        )
        assert (calm.expected, calm.received, calm.closed_before) == (SESSIONS, SESSIONS, 0)


def test_sessions_are_dealt_over_several_nodes_and_reported_per_node(
    server: BaselineServer,
) -> None:
    with BaselineServer(max_lifetime_s=60) as other:
        plan = SessionPlan(url=(server.ws_url, other.ws_url), count=SESSIONS, workers=2)
        payload = emergency_payload("both")
        first, second = server.trigger_for(payload), other.trigger_for(payload)

        def both() -> Triggered:
            triggered = first()  # the round's clock starts with the first node's POST
            second()
            return triggered

        with LoadGenerator(plan) as generator:
            assert generator.open().ready == SESSIONS
            assert other.wait_connections(SESSIONS // 2, timeout_s=5) == SESSIONS // 2
            summary = generator.run_round(both, b"both", ROUND_TIMEOUT_S)
    assert summary.complete
    assert [(t.url, t.expected, t.received) for t in summary.by_target] == [
        (server.ws_url, SESSIONS // 2, SESSIONS // 2),
        (other.ws_url, SESSIONS // 2, SESSIONS // 2),
    ]
    assert summary.last_ms == max(t.last_ms or 0.0 for t in summary.by_target)


def test_open_loop_frees_a_slot_at_the_upgrade_not_when_ready(server: BaselineServer) -> None:
    # Ready only once the server broadcasts the marker, which happens after every session
    # is connected: with one slot per worker, only an open-loop generator gets there.
    marker = b"open-loop-go"
    plan = SessionPlan(
        url=server.ws_url,
        count=5,
        workers=1,
        ready_marker=marker,
        connect_concurrency=1,
        open_loop=True,
        handshake_timeout_s=0.5,  # bounds the upgrade only
    )
    with LoadGenerator(plan) as generator:
        generator.start()
        assert server.wait_connections(5, timeout_s=5) == 5
        assert generator.ready_so_far() == 0  # upgraded, still waiting for their frame
        time.sleep(1.0)  # not a synchronisation: past the upgrade's time limit, on purpose
        server.trigger_for(emergency_payload(marker.decode()))()
        opened = generator.wait_open()
    assert (opened.ready, opened.failed, opened.errors) == (5, 0, {})


def test_sessions_that_cannot_open_are_counted_by_reason(server: BaselineServer) -> None:
    # The control port answers HTTP, but never 101.
    rejected = SessionPlan(url=f"ws://127.0.0.1:{server.control_port}/", count=5, workers=1)
    with LoadGenerator(rejected) as generator:
        opened = generator.open()
    assert (opened.ready, opened.failed, opened.errors) == (0, 5, {"HTTP 404": 5})

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # nothing listens once the probe is closed
    refused = SessionPlan(url=f"ws://127.0.0.1:{closed_port}/", count=5, workers=1)
    with LoadGenerator(refused) as generator:
        opened = generator.open()
    assert (opened.ready, opened.failed, opened.errors) == (0, 5, {"ECONNREFUSED": 5})


def test_players_move_on_to_the_next_address_and_count_from_their_welcome(
    server: BaselineServer,
) -> None:
    # Every other screen starts on the control port (HTTP 404, never 101): following the
    # reconnect contract it backs off and moves on to the next address, the WebSocket one.
    # A frame broadcast once half are back reaches the rest as the replay on connect.
    plan = SessionPlan(
        url=(f"ws://127.0.0.1:{server.control_port}/", server.ws_url),
        count=10,
        workers=1,
        reconnect=True,
        watch_marker=b"mid-storm",
    )
    trigger = server.trigger_for(emergency_payload("mid-storm"))
    with LoadGenerator(plan) as generator:
        generator.start()
        assert generator.wait_ready(5, timeout_s=10)
        triggered = trigger()
        opened = generator.wait_open()
        delivery = generator.collect_storm(triggered, timeout_s=ROUND_TIMEOUT_S)
    assert (opened.ready, opened.failed, opened.retried) == (10, 0, {"HTTP 404": 5})
    assert (delivery.received, delivery.missed) == (10, 0)
    assert delivery.welcomed_before >= 5
    assert delivery.max_ms is not None
    assert delivery.max_ms < ROUND_TIMEOUT_S * 1000


def test_a_plan_aimed_off_the_machine_is_refused() -> None:
    with pytest.raises(NotLoopback):
        SessionPlan(url="ws://192.0.2.1:80/", count=1)
    with pytest.raises(NotLoopback):
        SessionPlan(url="ws://127.0.0.1:80/", count=1, source_addresses=("192.0.2.1",))
