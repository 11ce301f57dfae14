"""The emergency benchmark, small: real ``signage serve`` processes (one node, the same
node reached by a CAP 1.2 POST, then two over a private Redis), 30 screens provisioned
through the API, one round each — so that
CI notices when the benchmark rots without paying for it."""

from __future__ import annotations

import pytest

from bench.emergency_fanout import measure, render
from bench.emergency_setup import BenchDatabase, SignageNode, provision

SESSIONS = 30

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def test_every_screen_gets_the_emergency_on_one_node_and_on_two() -> None:
    with BenchDatabase() as database_url:
        with SignageNode(database_url, {}, node_id="provisioner") as node:
            fleet = provision(node.base_url, database_url, SESSIONS, via="api")
        assert len(fleet.secrets) == SESSIONS
        rows = [
            measure(database_url, fleet, SESSIONS, "frozen", rounds=1, workers=1),
            measure(database_url, fleet, SESSIONS, "frozen", rounds=1, workers=1, cap=True),
            measure(database_url, fleet, SESSIONS, "on", rounds=1, workers=1, nodes=2),
        ]
    for row in rows:
        [round_] = row.rounds
        assert round_.summary.complete, round_.summary
        assert round_.summary.last_ms is not None
        assert round_.summary.last_ms < 2_000
    table = render(rows)
    assert "2 nodes + Redis" in table
    assert "1 node, CAP POST" in table
