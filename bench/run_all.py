"""``make bench``: run every benchmark listed in :data:`BENCHMARKS`, one after another.

A benchmark is a module of ``bench`` with a ``main()`` that takes no required argument,
prints its report, and returns ``0`` (or ``None``) on success. To add one, add its module
name to :data:`BENCHMARKS` (an entry ending in ``*`` stands for every module of ``bench``
whose name starts with the rest, in name order). A listed module that does not exist
yet is skipped with a message, so the list may name benchmarks still being written.

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
    "bench.schedule_resolution",  # a tenant's 24-hour timelines, 5,000 devices
    "bench.manifest_*",  # manifests after one schedule change, 5,000 live sessions
    "bench.actors_*",  # the actor runtime's benchmarks
    "bench.fanout_baseline",  # the WebSocket fan-out floor (bare websockets)
    "bench.emergency_fanout",  # issue 6: the product's emergency path against that floor
)
#: A benchmark still running after this long is stuck; it is killed and reported as failed.
BENCHMARK_TIMEOUT_S = 30 * 60


def expand(entry: str) -> list[str]:
    """The modules an entry of :data:`BENCHMARKS` names that exist now (maybe none)."""
    if entry.endswith("*"):
        prefix = entry.removeprefix("bench.").removesuffix("*")
        here = Path(__file__).resolve().parent
        return [f"bench.{p.stem}" for p in sorted(here.glob(f"{prefix}*.py"))]
    return [entry] if importlib.util.find_spec(entry) is not None else []


def _covered(module: str) -> bool:
    """Whether a wildcard entry of :data:`BENCHMARKS` covers ``module``."""
    return any(e.endswith("*") and module.startswith(e.removesuffix("*")) for e in BENCHMARKS)


def run(module: str) -> int:
    """Run ``module.main()`` in a child interpreter; return its exit status (0 for a
    module without ``main``, such as a helper matched by a wildcard)."""
    code = (
        f"import sys, {module} as m\n"
        "main = getattr(m, 'main', None)\n"
        "if main is None:\n"
        f"    print('{module} has no main(): not a benchmark, skipped')\n"
        "    sys.exit(0)\n"
        "r = main()\n"
        "sys.exit(0 if r is None else r)\n"
    )
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
    entries = [f"bench.{n.removeprefix('bench.')}" for n in args.names] or list(BENCHMARKS)
    unknown = [e for e in entries if e not in BENCHMARKS and not _covered(e)]
    if unknown:
        parser.error(f"not in BENCHMARKS: {', '.join(unknown)}")
    failed: list[str] = []
    for entry in entries:
        modules = expand(entry)
        if not modules:
            print(f"-- {entry}: not present, skipped", flush=True)
        for module in modules:
            print(f"-- {module}", flush=True)
            started = time.monotonic()
            status = run(module)
            elapsed = time.monotonic() - started
            print(f"-- {module}: exit {status} after {elapsed:.0f}s\n", flush=True)
            if status != 0:
                failed.append(module)
    if failed:
        print(f"failed: {', '.join(failed)}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
