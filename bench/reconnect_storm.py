"""Reconnect storm: how fast one node takes back N screens that all connect at once.

For each N (default 1,000 / 5,000): a fresh ``signage serve``, N approved screens, then
N WebSocket connections opened at once by :mod:`bench.loadgen` (its own processes), each
authenticated with its own device secret; the figure is the time from the first connect
until every session holds its opening frames (welcome, active emergencies, manifest),
and the rate that gives. In the same run, with the same generator:

- the floor: a bare ``websockets`` server sending one frame to each new connection;
- the framework: bare Quart on Hypercorn (:mod:`bench.baseline_quart_server`) sending
  two frames (welcome and manifest), no auth, no database, no actors.

::

    python -m bench.reconnect_storm [--sizes 1000,5000] [--provision sql|api]

Loopback only; the servers and the generator share this machine's cores (the report
prints the load average: compare rows of one run, not across runs).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass

from bench import fanout_baseline
from bench.baseline_control import BaselineServer
from bench.emergency_setup import REPO, BenchDatabase, SignageNode, provision
from bench.loadgen import LoadGenerator, SessionPlan
from bench.procstat import stop_process

SIZES = (1_000, 5_000)
READY_MARKER = b'"type":"manifest"'
START_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class Row:
    server: str
    sessions: int
    ready: int
    open_s: float

    @property
    def rate(self) -> float:
        return self.ready / self.open_s if self.open_s else 0.0


def _storm(
    url: str,
    count: int,
    workers: int,
    *,
    tokens: tuple[str, ...] = (),
    marker: bytes = READY_MARKER,
) -> tuple[int, float]:
    plan = SessionPlan(
        url=(url,),
        count=count,
        workers=workers,
        auth="bearer" if tokens else "none",
        tokens=tokens,
        ready_marker=marker,
    )
    with LoadGenerator(plan) as generator:
        opened = generator.open()
    return opened.ready, opened.elapsed_s


def product(count: int, workers: int, via: str) -> Row:
    with ExitStack() as stack:
        url = stack.enter_context(BenchDatabase())
        node = stack.enter_context(SignageNode(url, {"GC_FREEZE_SETTLE_S": "0"}, "storm"))
        fleet = provision(node.base_url, url, count, via=via)
        ready, took = _storm(node.ws_url, count, workers, tokens=fleet.secrets[:count])
    return Row("signage (auth, actors, manifest)", count, ready, took)


def floor(count: int, workers: int) -> Row:
    with BaselineServer() as server:
        marker = b"storm-opening"
        server.trigger_for(b'{"type":"storm-opening"}')()  # replayed to each new connection
        ready, took = _storm(server.ws_url, count, workers, marker=marker)
    return Row("bare websockets (floor)", count, ready, took)


def framework(count: int, workers: int) -> Row:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.baseline_quart_server"],
        cwd=REPO,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().split()  # READY <port>, bounded by the server
        if len(line) != 2 or line[0] != b"READY":
            raise RuntimeError(f"baseline Quart server did not start: {line!r}")
        url = f"ws://127.0.0.1:{int(line[1])}/api/v1/devices/ws"
        ready, took = _storm(url, count, workers)
    finally:
        stop_process(process, 10.0)
        if process.stdout is not None:
            process.stdout.close()
    return Row("bare Quart/Hypercorn", count, ready, took)


def render(rows: list[Row]) -> str:
    lines = [
        "| server | screens | ready | all open s | opened / s | vs floor |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    floors = {r.sessions: r for r in rows if r.server.startswith("bare websockets")}
    for row in rows:
        base = floors.get(row.sessions)
        ratio = f"{row.open_s / base.open_s:.2f}x" if base and base.open_s else "—"
        lines.append(
            f"| {row.server} | {row.sessions:,} | {row.ready:,} | {row.open_s:.2f} "
            f"| {row.rate:,.0f} | {ratio} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Reconnect storm: session opening rate.")
    parser.add_argument("--sizes", default=",".join(str(n) for n in SIZES))
    parser.add_argument("--provision", choices=("api", "sql"), default="sql")
    parser.add_argument("--workers", type=int, default=fanout_baseline.default_workers())
    args = parser.parse_args(argv)
    rows: list[Row] = []
    started = time.monotonic()
    for count in (int(n) for n in args.sizes.split(",")):
        rows.append(floor(count, args.workers))
        rows.append(framework(count, args.workers))
        rows.append(product(count, args.workers, args.provision))
    print(render(rows))
    print(
        f"\n{args.workers} generator worker(s); screens provisioned via {args.provision}; "
        f"load average {fanout_baseline.load_average()}; {time.monotonic() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
