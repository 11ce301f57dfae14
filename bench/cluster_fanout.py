"""Emergency fan-out to every screen as the number of nodes grows, over one real Redis
Cluster (3 masters + 3 replicas, ``redis-server --cluster-enabled yes`` on local ports, as
the cluster tests make it: ``tests/cluster/rediscluster.py``).

For each N (default 1, 2, 3, 4): N fresh ``signage serve`` nodes with ``REDIS_CLUSTER=true``
on one PostgreSQL, the same S screens (default 2,000) spread evenly over them by
:mod:`bench.loadgen`, then rounds: each POSTs one emergency to the first node and
measures, from just before the POST's first byte, until the frame reaches each screen
(the committing node's own fan-out, and for the others one ``SPUBLISH`` on the shard that
owns the tenant's channel, one delivery to each node, each node's fan-out). The relay
messages each round cost are read from the nodes' counters
(``signage_relay_published_total``, ``signage_relay_received_total``): one published, one
received per other node — never per screen.

::

    python -m bench.cluster_fanout [--nodes 1,2,3,4] [--sessions 2000] [--rounds 5]

Screens are inserted directly (``provision via="sql"``: how they are made does not touch
the measured path). Every phase is bounded; loopback only; the nodes, the six Redis
processes, PostgreSQL and the generator share this machine's cores, which the report
states with the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench.emergency_fanout import (
    READY_MARKER,
    Round,
    _json_trigger,
    _round,
    round_cells,
)
from bench.emergency_setup import BenchDatabase, Fleet, SignageNode, provision, signage_nodes
from bench.loadgen import LoadGenerator, SessionPlan
from tests.cluster.rediscluster import RedisClusterServers

NODES = (1, 2, 3, 4)
SESSIONS = 2_000
ROUNDS = 5


@dataclass(frozen=True, slots=True)
class Row:
    nodes: int
    sessions: int
    open_s: float
    rounds: list[Round]
    published: float
    received: float


def _relay_counts(servers: Sequence[SignageNode]) -> tuple[float, float]:
    published = received = 0.0
    for server in servers:
        metrics = server.metrics()
        published += metrics.get('signage_relay_published_total{result="ok"}', 0.0)
        received += metrics.get("signage_relay_received_total", 0.0)
    return published, received


def measure(
    database_url: str, cluster: RedisClusterServers, fleet: Fleet, nodes: int, rounds: int
) -> Row:
    sessions = len(fleet.secrets)
    env = {
        "REDIS_URL": cluster.url,
        "REDIS_CLUSTER": "true",
        "RELAY_CHANNEL_PREFIX": f"bench{os.getpid()}n{nodes}",
        "GC_FREEZE_SETTLE_S": "0",
    }
    with ExitStack() as stack:
        servers = signage_nodes(stack, database_url, nodes, env, name=f"bench-{nodes}")
        plan = SessionPlan(
            url=tuple(s.ws_url for s in servers),
            count=sessions,
            workers=1,
            auth="bearer",
            tokens=fleet.secrets,
            ready_marker=READY_MARKER,
        )
        generator = stack.enter_context(LoadGenerator(plan))
        opened = generator.open()
        if opened.ready != sessions:
            raise RuntimeError(f"only {opened.ready}/{sessions} sessions: {opened.errors}")
        tenant = f"{servers[0].base_url}/api/v1/tenants/{fleet.tenant_id}"
        published_before, received_before = _relay_counts(servers)
        measured = [
            _round(generator, servers, _json_trigger(tenant, fleet.operator_token))
            for _ in range(rounds)
        ]
        published_after, received_after = _relay_counts(servers)
    return Row(
        nodes,
        sessions,
        opened.elapsed_s,
        measured,
        (published_after - published_before) / rounds,
        (received_after - received_before) / rounds,
    )


def render(rows: Sequence[Row]) -> str:
    lines = [
        "| nodes | screens | per node | rounds | first ms | p50 ms | p99 ms | last ms "
        "| worst last ms | HTTP 201 ms | relay published / received per emergency |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.nodes} | {row.sessions:,} | {row.sessions // row.nodes:,} "
            f"| {round_cells([r.summary for r in row.rounds])} "
            f"| {row.published:g} / {row.received:g} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--nodes", default=",".join(map(str, NODES)))
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.nodes.split(",")]
    load_start = os.getloadavg()[0]
    rows = []
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-rc-")))
        cluster = RedisClusterServers(workdir)
        stack.callback(cluster.stop)
        cluster.start()
        database_url = stack.enter_context(BenchDatabase())
        with SignageNode(database_url, {}, node_id="provisioner") as node:
            fleet = provision(node.base_url, database_url, args.sessions, via="sql")
        for nodes in counts:
            cluster.wait_healthy()
            rows.append(measure(database_url, cluster, fleet, nodes, args.rounds))
            print(f"  {nodes} node(s) done", file=sys.stderr)
    print(
        f"Redis Cluster 3 masters + 3 replicas; 1-minute load average {load_start:.2f} at the"
        f" start, {os.getloadavg()[0]:.2f} at the end ({os.cpu_count()} CPUs)"
    )
    print(render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
