"""WebSocket fan-out floor: bare ``websockets`` broadcast to N sessions of the load generator.

For each N (default 1,000 / 5,000 / 10,000), a fresh :mod:`bench.baseline_ws_server`
process, N sessions from :mod:`bench.loadgen`, then rounds: each round POSTs one
~300-byte emergency-like frame to the server, which broadcasts it; the round measures
from just before the POST is written to the frame's arrival at each session. First
with the server's GC as Python ships it, then after ``gc.freeze()``. Also the server's
RSS per idle connection, and the GC collections that overlapped a round.

::

    python -m bench.fanout_baseline [--sizes 1000,5000,10000] [--rounds 5] [--workers 1]

Stops by itself: every phase is bounded (open, each round, each control call), and the
number of rounds is fixed. Loopback only. Server and generator share this machine's
cores, so the figures are an upper bound on what the server alone would need.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from bench.baseline_control import BaselineServer
from bench.loadgen import LoadGenerator, RoundSummary, SessionPlan, fmt_ms

SIZES = (1_000, 5_000, 10_000)
ROUNDS_PER_MODE = 5
#: The product's emergency frame is about this size (id, seq, message, times).
FRAME_BYTES = 300
ROUND_TIMEOUT_S = 10.0
CONNECTIONS_SETTLE_S = 30.0
GC_MODES = ("on", "frozen")
#: A 1-minute load average above this at the start means something else is using the
#: cores the server and the generator share: the figures will be inflated, and say so.
BUSY_LOAD_AVERAGE = 0.5


def default_workers() -> int:
    """One core for the server, the rest for the generator (at least one process)."""
    return max(1, (os.cpu_count() or 2) - 1)


def emergency_payload(marker: str, size: int = FRAME_BYTES) -> bytes:
    """A JSON text frame shaped like the product's ``emergency`` frame, ``size`` bytes long,
    whose message contains ``marker``."""
    frame = {
        "type": "emergency",
        "id": "0190f5c2-7d1e-7b3a-9c4e-2f6a8b1d3e5f",
        "seq": 1,
        "message": marker,
        "severity": "critical",
        "started_at": "2025-01-01T12:00:00.000000Z",
        "expires_at": None,
    }
    base = len(json.dumps(frame, separators=(",", ":")).encode())
    frame["message"] = marker + " " + "x" * max(0, size - base - 1)
    return json.dumps(frame, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Round:
    summary: RoundSummary
    broadcast_ms: float
    #: The server's CPU time in that call (user, system); far below ``broadcast_ms`` means
    #: the server was waiting for a core, not working.
    broadcast_user_ms: float
    broadcast_sys_ms: float
    #: Server GC collections overlapping [trigger sent, last arrival]: (seconds, generation).
    gc_pauses: list[tuple[float, int]]


@dataclass(frozen=True, slots=True)
class Row:
    sessions: int
    gc_mode: str
    rss_per_session_kib: float
    open_s: float
    rounds: list[Round]


def measure(sessions: int, rounds: int, workers: int) -> list[Row]:
    """Both GC modes at one N, on one fresh server and one set of sessions."""
    rows: list[Row] = []
    with BaselineServer() as server:
        rss_before = server.rss_kib()
        plan = SessionPlan(url=server.ws_url, count=sessions, workers=workers)
        with LoadGenerator(plan) as generator:
            opened = generator.open()
            if opened.ready != sessions:
                raise RuntimeError(f"only {opened.ready}/{sessions} sessions: {opened.errors}")
            held = server.wait_connections(sessions, CONNECTIONS_SETTLE_S)
            if held != sessions:
                raise RuntimeError(f"server holds {held}/{sessions} connections")
            rss_per_session = (server.rss_kib() - rss_before) / sessions
            for gc_mode in GC_MODES:
                if gc_mode == "frozen":
                    server.freeze_gc()
                measured = [_round(server, generator) for _ in range(rounds)]
                rows.append(Row(sessions, gc_mode, rss_per_session, opened.elapsed_s, measured))
    return rows


def _round(server: BaselineServer, generator: LoadGenerator) -> Round:
    marker = f"fanout-{secrets.token_hex(8)}"
    trigger = server.trigger_for(emergency_payload(marker))
    summary = generator.run_round(trigger, marker.encode(), ROUND_TIMEOUT_S)
    triggered = summary.triggered
    answer = json.loads(triggered.body)
    end = triggered.sent_at + (summary.latencies_ms[-1] / 1000.0 if summary.received else 0.0)
    pauses = server.stats().pauses_between(triggered.sent_at, end)
    return Round(
        summary=summary,
        broadcast_ms=float(answer["broadcast_ms"]),
        broadcast_user_ms=float(answer["broadcast_user_ms"]),
        broadcast_sys_ms=float(answer["broadcast_sys_ms"]),
        gc_pauses=[(seconds, generation) for _start, seconds, generation in pauses],
    )


def _median(values: Sequence[float | None]) -> float | None:
    """Median, or ``None`` (not reached) if any value is: one incomplete round taints it."""
    if any(v is None for v in values):
        return None
    return statistics.median(v for v in values if v is not None)


def render(rows: Sequence[Row]) -> str:
    """A Markdown table: medians over the rounds, plus the worst ``last``."""
    lines = [
        "| sessions | server GC | rounds | first ms | p50 ms | p99 ms | last ms "
        "| worst last ms | server broadcast ms | its CPU user + sys ms | generator CPU ms "
        "| GC in rounds | RSS / idle session KiB |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for row in rows:
        s = [r.summary for r in row.rounds]
        lasts = [x.last_ms for x in s]
        worst = None if any(v is None for v in lasts) else max(v for v in lasts if v is not None)
        pauses = [p for r in row.rounds for p in r.gc_pauses]
        gc_cell = (
            f"{len(pauses)} (max {max(p[0] for p in pauses) * 1000:.1f} ms)" if pauses else "0"
        )
        incomplete = sum(1 for x in s if not x.complete)
        rounds_cell = f"{len(s)}" + (f" ({incomplete} incomplete)" if incomplete else "")
        lines.append(
            f"| {row.sessions:,} | {row.gc_mode} | {rounds_cell} "
            f"| {fmt_ms(_median([x.first_ms for x in s]))} "
            f"| {fmt_ms(_median([x.p50_ms for x in s]))} "
            f"| {fmt_ms(_median([x.p99_ms for x in s]))} "
            f"| {fmt_ms(_median(lasts))} | {fmt_ms(worst)} "
            f"| {fmt_ms(_median([r.broadcast_ms for r in row.rounds]))} "
            f"| {fmt_ms(_median([r.broadcast_user_ms for r in row.rounds]))} + "
            f"{fmt_ms(_median([r.broadcast_sys_ms for r in row.rounds]))} "
            f"| {fmt_ms(_median([x.generator_cpu_ms for x in s]))} "
            f"| {gc_cell} | {row.rss_per_session_kib:.1f} |"
        )
    return "\n".join(lines)


def environment(workers: int) -> str:
    return (
        f"{os.cpu_count()} CPUs, Linux {platform.release()}, Python {platform.python_version()}, "
        f"websockets {version('websockets')}, load generator: {workers} worker process(es), "
        f"server and generator on the same cores; load average {load_average()}"
    )


def load_average() -> str:
    """The 1-minute load average: anything else busy on the machine shows up here."""
    return Path("/proc/loadavg").read_text().split()[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="WebSocket fan-out floor (bare websockets).")
    parser.add_argument(
        "--sizes",
        type=lambda s: tuple(int(x) for x in s.split(",")),
        default=SIZES,
        help="comma-separated session counts (default: %(default)s)",
    )
    parser.add_argument("--rounds", type=int, default=ROUNDS_PER_MODE, help="per GC mode")
    parser.add_argument("--workers", type=int, default=default_workers())
    args = parser.parse_args(argv)
    print("## WebSocket fan-out floor (bare websockets)\n")
    print(environment(args.workers) + "\n", flush=True)
    if float(load_average()) > BUSY_LOAD_AVERAGE:
        print("**Warning: the machine is busy; these figures are inflated.**\n", flush=True)
    rows: list[Row] = []
    for sessions in args.sizes:
        rows.extend(measure(sessions, args.rounds, args.workers))
        print(f"  measured {sessions:,} sessions", file=sys.stderr, flush=True)
    print(render(rows))
    print(f"\nload average at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
