"""Emergency fan-out, end to end, against the bare-websockets floor in the same run.

For each N (default 1,000 / 5,000 / 10,000): a fresh ``signage serve`` process, N device
sessions from :mod:`bench.loadgen` (authenticated with their own device secrets, ready
once their manifest arrived), then rounds: each round POSTs one emergency to
``/api/v1/tenants/{tid}/emergencies`` and measures, from just before the POST's first
byte, until the frame reaches each session — through the HTTP edge, the PostgreSQL
transaction (row, sequence number, outbox, audit), the tenant actor's fan-out and every
device actor's WebSocket send. Twice per N: with the server's garbage collector as
Python ships it, and with ``GC_FREEZE_SETTLE_S`` (the heap frozen once the sessions
settled). Then the same N against :mod:`bench.fanout_baseline`'s bare server, with the
same generator. Last, N sessions spread over three nodes sharing PostgreSQL and a private
Redis, the POST going to the first node. With ``--cap``, each one-node configuration is
measured once more with the emergency sent as a CAP 1.2 Alert to
``/api/v1/tenants/{tid}/cap`` instead (the XML parse, the duplicate check and the CAP
mapping on the path too): from the CAP POST to the last screen.

::

    python -m bench.emergency_fanout [--sizes 1000,5000,10000] [--rounds 5]
        [--cluster 10000] [--nodes 3] [--provision api|sql] [--no-baseline] [--cap]

Screens are registered and claimed through the HTTP API by default (``--provision sql``
inserts them directly, for quick iterations; the report says which). Every phase is
bounded; loopback only; the server processes and the generator share this machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from importlib.metadata import version

from bench import fanout_baseline
from bench.emergency_setup import BenchDatabase, Fleet, SignageNode, provision, signage_nodes
from bench.loadgen import (
    LoadGenerator,
    RoundSummary,
    SessionPlan,
    Trigger,
    fmt_ms,
    http_post_trigger,
)

SIZES = (1_000, 5_000, 10_000)
ROUNDS = 5
CLUSTER_SESSIONS = 10_000
CLUSTER_NODES = 3
ROUND_TIMEOUT_S = 15.0
#: A session is ready once its opening manifest arrived (welcome, emergency part and
#: manifest part all sent: the device actor is registered and idle).
READY_MARKER = b'"type":"manifest"'
GC_MODES = ("on", "frozen")
#: The frozen mode's settle time: short, so the run does not wait long for it.
FREEZE_SETTLE_S = 2.0
FREEZE_WAIT_S = 60.0
#: Same as the baseline: a 1-minute load average above this means the figures are inflated.
BUSY_LOAD_AVERAGE = 0.5


@dataclass(frozen=True, slots=True)
class Round:
    summary: RoundSummary
    #: Server garbage collections during the round, per generation (all nodes together).
    collections: dict[str, int]


@dataclass(frozen=True, slots=True)
class Row:
    setup: str
    sessions: int
    gc_mode: str
    open_s: float
    rss_per_session_kib: float
    rounds: list[Round]


def measure(
    database_url: str,
    fleet: Fleet,
    sessions: int,
    gc_mode: str,
    rounds: int,
    workers: int,
    nodes: int = 1,
    *,
    cap: bool = False,
) -> Row:
    """One configuration: fresh server node(s), ``sessions`` sessions, ``rounds`` rounds
    (each POSTing a JSON trigger, or with ``cap`` a CAP 1.2 Alert)."""
    env = {"GC_FREEZE_SETTLE_S": "0" if gc_mode == "on" else str(FREEZE_SETTLE_S)}
    with ExitStack() as stack:
        servers = signage_nodes(stack, database_url, nodes, env)
        rss_before = sum(s.rss_kib() for s in servers)
        plan = SessionPlan(
            url=tuple(s.ws_url for s in servers),
            count=sessions,
            workers=workers,
            auth="bearer",
            tokens=fleet.secrets[:sessions],
            ready_marker=READY_MARKER,
        )
        generator = stack.enter_context(LoadGenerator(plan))
        opened = generator.open()
        if opened.ready != sessions:
            raise RuntimeError(f"only {opened.ready}/{sessions} sessions: {opened.errors}")
        if gc_mode == "frozen":
            for server in servers:
                _wait_frozen(server, sessions // nodes)
        rss_per_session = (sum(s.rss_kib() for s in servers) - rss_before) / sessions
        tenant = f"{servers[0].base_url}/api/v1/tenants/{fleet.tenant_id}"
        make = _cap_trigger if cap else _json_trigger
        measured = [
            _round(generator, servers, make(tenant, fleet.operator_token)) for _ in range(rounds)
        ]
        setup = "1 node" if nodes == 1 else f"{nodes} nodes + Redis"
        if cap:
            setup += ", CAP POST"
        return Row(setup, sessions, gc_mode, opened.elapsed_s, rss_per_session, measured)


def _json_trigger(tenant_url: str, token: str) -> tuple[Trigger, str]:
    """A trigger POSTing a JSON emergency, and the marker its frame carries."""
    marker = f"emergency-{secrets.token_hex(8)}"
    body = json.dumps(
        {"message": f"Evacuate now ({marker})", "severity": "critical", "target": {"all": True}}
    ).encode()
    headers = {"Authorization": f"Bearer {token}"}
    return http_post_trigger(f"{tenant_url}/emergencies", body, headers), marker


#: A CAP 1.2 Alert (the shape of the specification's A.1); ``{marker}`` is the identifier
#: and is in the headline, so every round is a new alert, not a duplicate.
CAP_ALERT = """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{marker}</identifier>
  <sender>bench@example.test</sender>
  <sent>2026-01-01T00:00:00+00:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <category>Fire</category>
    <event>Fire</event>
    <urgency>Immediate</urgency>
    <severity>Extreme</severity>
    <certainty>Observed</certainty>
    <headline>Evacuate now ({marker})</headline>
    <description>Fire on floor 2.</description>
    <instruction>Use the north stairs.</instruction>
    <area><areaDesc>Head office</areaDesc></area>
  </info>
</alert>
"""


def _cap_trigger(tenant_url: str, token: str) -> tuple[Trigger, str]:
    """A trigger POSTing a CAP 1.2 Alert, and the marker its frame carries."""
    marker = f"cap-{secrets.token_hex(8)}"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/cap+xml"}
    body = CAP_ALERT.format(marker=marker).encode()
    return http_post_trigger(f"{tenant_url}/cap", body, headers), marker


def _round(
    generator: LoadGenerator, servers: Sequence[SignageNode], made: tuple[Trigger, str]
) -> Round:
    trigger, marker = made
    before = [_collections(s) for s in servers]
    summary = generator.run_round(trigger, marker.encode(), ROUND_TIMEOUT_S)
    after = [_collections(s) for s in servers]
    collections: dict[str, int] = {}
    for old, new in zip(before, after, strict=True):
        for generation, count in new.items():
            collections[generation] = (
                collections.get(generation, 0) + count - old.get(generation, 0)
            )
    return Round(summary, collections)


def _collections(server: SignageNode) -> dict[str, int]:
    metrics = server.metrics()
    prefix = 'signage_gc_pause_seconds_count{generation="'
    return {
        name.removeprefix(prefix).rstrip('"}'): int(value)
        for name, value in metrics.items()
        if name.startswith(prefix)
    }


def _wait_frozen(server: SignageNode, sessions: int) -> None:
    """Until the node froze its heap with (about) its ``sessions`` in it (bounded)."""
    deadline = time.monotonic() + FREEZE_WAIT_S
    while time.monotonic() < deadline:
        if server.metrics().get("signage_gc_frozen_sessions", -1) >= 0.9 * sessions:
            return
        time.sleep(0.5)  # polling another process's state
    raise TimeoutError(f"{server.node_id} did not freeze its heap in {FREEZE_WAIT_S}s")


# -- the report ----------------------------------------------------------------------------


def _median(values: Sequence[float | None]) -> float | None:
    if any(v is None for v in values):
        return None
    return statistics.median(v for v in values if v is not None)


def round_cells(summaries: Sequence[RoundSummary]) -> str:
    """The table cells ``rounds | first | p50 | p99 | last | worst last | HTTP 201`` of a
    row's rounds (medians over the rounds), for every fan-out report."""
    lasts = [x.last_ms for x in summaries]
    worst = None if any(v is None for v in lasts) else max(v for v in lasts if v is not None)
    incomplete = sum(1 for x in summaries if not x.complete)
    rounds = f"{len(summaries)}" + (f" ({incomplete} incomplete)" if incomplete else "")
    return (
        f"{rounds} | {fmt_ms(_median([x.first_ms for x in summaries]))} "
        f"| {fmt_ms(_median([x.p50_ms for x in summaries]))} "
        f"| {fmt_ms(_median([x.p99_ms for x in summaries]))} "
        f"| {fmt_ms(_median(lasts))} | {fmt_ms(worst)} "
        f"| {fmt_ms(_median([x.answered_ms for x in summaries]))}"
    )


def render(rows: Sequence[Row]) -> str:
    lines = [
        "| setup | sessions | server GC | rounds | first ms | p50 ms | p99 ms | last ms "
        "| worst last ms | HTTP 201 ms | GCs in rounds (gen 0/1/2) | RSS / idle session KiB |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for row in rows:
        gcs = "/".join(str(sum(r.collections.get(g, 0) for r in row.rounds)) for g in "012")
        lines.append(
            f"| {row.setup} | {row.sessions:,} | {row.gc_mode} "
            f"| {round_cells([r.summary for r in row.rounds])} "
            f"| {gcs} | {row.rss_per_session_kib:.1f} |"
        )
    return "\n".join(lines)


def render_ratio(rows: Sequence[Row], floor: Sequence[fanout_baseline.Row]) -> str:
    """Median p99 of the product over the floor's, per N and GC mode (1 node)."""
    lines = [
        "| sessions | server GC | product p99 ms | floor p99 ms | ratio |",
        "|---:|---|---:|---:|---:|",
    ]
    base = {(r.sessions, r.gc_mode): r for r in floor}
    for row in rows:
        if row.setup != "1 node":
            continue
        match = base.get((row.sessions, row.gc_mode))
        if match is None:
            continue
        ours = _median([r.summary.p99_ms for r in row.rounds])
        theirs = _median([r.summary.p99_ms for r in match.rounds])
        ratio = "—" if ours is None or not theirs else f"{ours / theirs:.2f}x"
        lines.append(
            f"| {row.sessions:,} | {row.gc_mode} | {fmt_ms(ours)} | {fmt_ms(theirs)} | {ratio} |"
        )
    return "\n".join(lines)


def environment(workers: int, via: str) -> str:
    return (
        f"{os.cpu_count()} CPUs, Linux {platform.release()}, Python "
        f"{platform.python_version()}, hypercorn {version('hypercorn')}, quart "
        f"{version('quart')}, websockets {version('websockets')} (floor); load generator: "
        f"{workers} worker process(es); screens provisioned via {via}; server(s) and "
        f"generator on the same cores; load average {fanout_baseline.load_average()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Emergency fan-out, end to end.")
    parser.add_argument(
        "--sizes",
        type=lambda s: tuple(int(x) for x in s.split(",") if x),
        default=SIZES,
        help="comma-separated session counts on one node (default: %(default)s)",
    )
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="per configuration")
    parser.add_argument("--cluster", type=int, default=CLUSTER_SESSIONS, help="0: skip")
    parser.add_argument("--nodes", type=int, default=CLUSTER_NODES)
    parser.add_argument("--gc", default=",".join(GC_MODES), help="modes: on,frozen")
    parser.add_argument("--provision", choices=("api", "sql"), default="api")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument(
        "--cap", action="store_true", help="also time a CAP 1.2 POST per one-node size"
    )
    parser.add_argument("--workers", type=int, default=fanout_baseline.default_workers())
    args = parser.parse_args(argv)
    modes = tuple(m for m in args.gc.split(",") if m)
    print("## Emergency fan-out, end to end (issue 6)\n")
    print(environment(args.workers, args.provision) + "\n", flush=True)
    if float(fanout_baseline.load_average()) > BUSY_LOAD_AVERAGE:
        print("**Warning: the machine is busy; these figures are inflated.**\n", flush=True)
    rows: list[Row] = []
    floor: list[fanout_baseline.Row] = []
    most = max([*args.sizes, args.cluster])
    with BenchDatabase() as database_url:
        started = time.monotonic()
        with SignageNode(database_url, {}, node_id="provisioner") as node:
            fleet = provision(node.base_url, database_url, most, via=args.provision)
        print(
            f"provisioned {most:,} screens via {args.provision} in "
            f"{time.monotonic() - started:.0f} s\n",
            flush=True,
        )
        for sessions in args.sizes:
            for mode in modes:
                rows.append(measure(database_url, fleet, sessions, mode, args.rounds, args.workers))
                print(f"  measured {sessions:,} sessions, GC {mode}", file=sys.stderr, flush=True)
            if args.cap:
                rows.append(
                    measure(
                        database_url,
                        fleet,
                        sessions,
                        modes[-1],
                        args.rounds,
                        args.workers,
                        cap=True,
                    )
                )
                print(f"  measured {sessions:,} sessions, CAP POST", file=sys.stderr, flush=True)
            if not args.no_baseline:
                floor.extend(fanout_baseline.measure(sessions, args.rounds, args.workers))
                print(f"  measured the floor at {sessions:,}", file=sys.stderr, flush=True)
        if args.cluster:
            rows.append(
                measure(
                    database_url,
                    fleet,
                    args.cluster,
                    modes[-1],
                    args.rounds,
                    args.workers,
                    nodes=args.nodes,
                )
            )
            print(f"  measured {args.cluster:,} sessions on {args.nodes} nodes", file=sys.stderr)
    print("### The product\n")
    print(render(rows))
    if floor:
        print("\n### The floor (bare websockets), same run\n")
        print(fanout_baseline.render(floor))
        print("\n### p99 against the floor\n")
        print(render_ratio(rows, floor))
    print(f"\nload average at the end: {fanout_baseline.load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
