"""Shared bits of the actor runtime benchmarks: a message, timing, GC hygiene, printing."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Sequence

import msgspec


class Deliver(msgspec.Struct, frozen=True):
    """What a tenant actor hands each device actor: one pre-encoded frame."""

    frame: bytes


FRAME = Deliver(frame=b'{"type":"emergency","id":"00000000-0000-0000-0000-000000000000"}' * 4)


def settle_gc(freeze: bool) -> None:
    """Collect now and (if ``freeze``) move every survivor to the permanent generation, as
    the server does once sessions are established (PERF-NOTES: GC is the biggest threat)."""
    gc.collect()
    if freeze:
        gc.freeze()


def unfreeze() -> None:
    gc.unfreeze()
    gc.collect()


def now() -> float:
    return time.perf_counter()


def summary(samples: Sequence[float]) -> str:
    """median / p99 / max in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (
        f"median {statistics.median(ordered) * 1e3:7.2f} ms  "
        f"p99 {p99 * 1e3:7.2f} ms  max {ordered[-1] * 1e3:7.2f} ms"
    )


def ratio(ours: float, baseline: float) -> str:
    return f"{ours / baseline:4.2f}x the baseline"
