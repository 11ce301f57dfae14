"""Graceful shutdown: how long a node takes from SIGTERM to exit with N sessions open.

For each N: a fresh ``signage serve`` holding N authenticated sessions opened by
:mod:`bench.loadgen` (its own processes), of which every ``--quiet-every``-th has stopped
reading (a player gone quiet: it answers neither the ``reconnect`` frame nor the close
handshake). Then SIGTERM; the figure is the time until the process has exited, which
includes telling every screen ``reconnect``, closing each 1012, letting HTTP requests in
flight finish, and flushing the batched writes (acks, last-seen). The node's log says
how many sessions it drained.

::

    python -m bench.shutdown_drain [--sizes 1000,5000,10000] [--quiet-every 10]

Loopback only; the generator shares this machine's cores.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench import fanout_baseline
from bench.emergency_setup import BenchDatabase, SignageNode, provision
from bench.loadgen import LoadGenerator, SessionPlan

SIZES = (1_000, 5_000, 10_000)
QUIET_EVERY = 10
EXIT_TIMEOUT_S = 60.0
_DRAINED = re.compile(r"draining (\d+) sessions")
_DROPPED = re.compile(r"(\d+) screens did not answer the close")


@dataclass(frozen=True, slots=True)
class Row:
    sessions: int
    quiet: int
    drained: int
    #: Connections dropped at the close-reply deadline (the screens that did not answer).
    dropped: int
    exit_code: int
    exit_s: float
    #: CPU seconds (user + system) the node spent from SIGTERM to its exit: what a busy
    #: machine's wall time hides (a node given a fraction of a core takes longer for the
    #: same work).
    cpu_s: float


def measure(
    count: int,
    workers: int,
    quiet_every: int,
    via: str,
    grace_s: float,
    profile: str = "",
    node_log: str = "",
) -> Row:
    with ExitStack() as stack:
        url = stack.enter_context(BenchDatabase())
        env = {"SHUTDOWN_GRACE_S": str(grace_s), "LOG_LEVEL": "INFO"}  # the shipped GC policy
        node = stack.enter_context(SignageNode(url, env, "drain"))
        fleet = provision(node.base_url, url, count, via=via)
        plan = SessionPlan(
            url=node.ws_url,
            count=count,
            workers=workers,
            auth="bearer",
            tokens=fleet.secrets[:count],
            ready_marker=b'"type":"manifest"',
            stall_every=quiet_every,
        )
        generator = stack.enter_context(LoadGenerator(plan))
        opened = generator.open()
        if opened.ready < count:
            raise RuntimeError(f"only {opened.ready} of {count} sessions opened: {opened.errors}")
        if profile:  # py-spy's collapsed stacks of the node from just before the signal
            spy = subprocess.Popen(
                ["py-spy", "record", "-p", str(node.pid), "-r", "200", "-f", "raw", "-o", profile],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)  # py-spy attaches (a profile of the drain, not of the start)
        reaped = _children_cpu_s()
        before = _process_cpu_s(node.pid)
        started = time.monotonic()
        node.signal(signal.SIGTERM)
        code = node.wait(EXIT_TIMEOUT_S)
        took = time.monotonic() - started
        # The node's whole life is counted when it is reaped; less what it had used.
        cpu = _children_cpu_s() - reaped - before
        if profile:
            spy.wait(30)
        log = node.log_tail(200_000_000)
        if node_log:  # the node's own timeline of the drain (its log lines are timestamped)
            Path(node_log).write_text(log)
        found = _DRAINED.findall(log)
        drained = int(found[-1]) if found else -1
        dropped = sum(int(n) for n in _DROPPED.findall(log))
    quiet = count // quiet_every if quiet_every else 0
    return Row(count, quiet, drained, dropped, code, took, cpu)


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _process_cpu_s(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used so far (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def render(rows: list[Row]) -> str:
    lines = [
        "| sessions | of them quiet | drained | dropped | exit code | SIGTERM → exit s"
        " | node CPU s |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.sessions:,} | {row.quiet:,} | {row.drained:,} | {row.dropped:,} "
            f"| {row.exit_code} "
            f"| {row.exit_s:.2f} | {row.cpu_s:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="SIGTERM to exit with N sessions open.")
    parser.add_argument("--sizes", default=",".join(str(n) for n in SIZES))
    parser.add_argument("--quiet-every", type=int, default=QUIET_EVERY)
    parser.add_argument("--grace", type=float, default=10.0, help="SHUTDOWN_GRACE_S")
    parser.add_argument("--provision", choices=("api", "sql"), default="sql")
    parser.add_argument("--workers", type=int, default=fanout_baseline.default_workers())
    parser.add_argument("--profile", default="", help="py-spy raw output path (one size)")
    parser.add_argument("--node-log", default="", help="keep the node's log here (one size)")
    args = parser.parse_args(argv)
    rows = [
        measure(
            int(n),
            args.workers,
            args.quiet_every,
            args.provision,
            args.grace,
            args.profile,
            args.node_log,
        )
        for n in args.sizes.split(",")
    ]
    print(render(rows))
    print(
        f"\nSHUTDOWN_GRACE_S={args.grace:g}; every {args.quiet_every}th session quiet; "
        f"load average {fanout_baseline.load_average()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
