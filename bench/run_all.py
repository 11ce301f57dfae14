"""``make bench``: run every benchmark listed in :data:`BENCHMARKS`, one after another.

A benchmark is a module of ``bench`` with a ``main()`` that takes no required argument,
prints its report, and returns ``0`` (or ``None``) on success. To add one, add its module
name to :data:`BENCHMARKS`; a listed module that does not exist yet is skipped with a
message, so the list may name benchmarks still being written.

Each benchmark runs in a fresh interpreter: one's heap, GC state, threads and open
sockets must not skew the next one's figures. Each is bounded by
:data:`BENCHMARK_TIMEOUT_S` on top of its own bounds.

::

    python -m bench.run_all                     # all of them
    python -m bench.run_all fanout_baseline     # some of them, by name
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: In the order they run. Cheap, in-process benchmarks first; fan-out ones last.
BENCHMARKS: tuple[str, ...] = (
    "bench.actors_mailbox",
    "bench.actors_fanout",
    "bench.fanout_baseline",
    "bench.emergency_fanout",
)
#: A benchmark still running after this long is stuck; it is killed and reported as failed.
BENCHMARK_TIMEOUT_S = 30 * 60


def _present(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def run(module: str) -> int:
    """Run ``module.main()`` in a child interpreter; return its exit status."""
    code = f"import sys, {module} as m; r = m.main(); sys.exit(0 if r is None else r)"
    try:
        return subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, timeout=BENCHMARK_TIMEOUT_S
        ).returncode
    except subprocess.TimeoutExpired:
        print(f"{module}: still running after {BENCHMARK_TIMEOUT_S}s, killed", flush=True)
        return 124


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the benchmarks in bench/.")
    parser.add_argument("names", nargs="*", help="short names (e.g. fanout_baseline); all if none")
    args = parser.parse_args(argv)
    wanted = [f"bench.{n.removeprefix('bench.')}" for n in args.names] or list(BENCHMARKS)
    unknown = [m for m in wanted if m not in BENCHMARKS]
    if unknown:
        parser.error(f"not in BENCHMARKS: {', '.join(unknown)}")
    failed: list[str] = []
    for module in wanted:
        if not _present(module):
            print(f"-- {module}: not present, skipped", flush=True)
            continue
        print(f"-- {module}", flush=True)
        started = time.monotonic()
        status = run(module)
        print(f"-- {module}: exit {status} after {time.monotonic() - started:.0f}s\n", flush=True)
        if status != 0:
            failed.append(module)
    if failed:
        print(f"failed: {', '.join(failed)}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
