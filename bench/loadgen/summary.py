"""What a round or an opening amounted to: latency percentiles, missing sessions, errors.

Percentiles are nearest-rank over *every expected session*, a missing one counting as
infinitely late: with 1 % missing, p99 is still a number, but ``last`` is ``None``.
A summary that hid missing devices would flatter exactly the runs that failed.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bench.loadgen.trigger import Triggered


@dataclass(frozen=True, slots=True)
class OpenSummary:
    requested: int
    ready: int
    failed: int
    #: Sessions deliberately never reading (``stall_every``); ready, but not expected in rounds.
    stalled: int
    errors: dict[str, int]
    elapsed_s: float
    #: Failed attempts retried by players following the reconnect contract, by reason.
    retried: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StormDelivery:
    """A frame triggered while a storm opens (``SessionPlan.watch_marker``), per screen:
    ``max(0, arrival - max(trigger sent, welcome of the session it came on))`` in ms, a
    screen without it counting as infinitely late in the percentiles."""

    screens: int
    received: int
    #: Screens that got it on a session welcomed before the trigger was sent.
    welcomed_before: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    #: When the trigger's response came back, ms after it was sent.
    answered_ms: float

    @property
    def missed(self) -> int:
        return self.screens - self.received


@dataclass(frozen=True, slots=True)
class TargetSummary:
    """A round's delivery through one server node (same rules as :class:`RoundSummary`)."""

    url: str
    expected: int
    received: int
    p50_ms: float | None
    p99_ms: float | None
    last_ms: float | None


@dataclass(frozen=True, slots=True)
class RoundSummary:
    """One trigger's delivery, in milliseconds from the moment the trigger was sent.

    ``None`` means "not reached": more sessions missing than the percentile allows.
    """

    expected: int
    received: int
    missing: int
    #: Opened sessions that had closed before the round began (not expected, not missing).
    closed_before: int
    #: Expected sessions that closed during the round before the frame came.
    lost: int
    #: Reconnect-storm rounds: replacements whose handshake completed within the round.
    reconnected: int
    first_ms: float | None
    p50_ms: float | None
    p99_ms: float | None
    last_ms: float | None
    #: When the trigger's own response came back (e.g. the HTTP 201), ms after it was sent.
    answered_ms: float
    #: CPU the load generator's workers spent during the round, all workers together.
    generator_cpu_ms: float
    errors: dict[str, int]
    #: Every received session's latency, ascending, for whoever wants more than the summary.
    latencies_ms: tuple[float, ...]
    #: The trigger as sent and answered (its response body, e.g. the emergency's id).
    triggered: Triggered
    #: The same per server node, in the plan's URL order (one entry for a single node).
    by_target: tuple[TargetSummary, ...]

    @property
    def complete(self) -> bool:
        return self.missing == 0 and self.expected > 0


def percentile(sorted_values: Sequence[float], q: float, total: int) -> float | None:
    """Nearest-rank ``q``-quantile (0 < q <= 1) of ``total`` values of which ``sorted_values``
    are the known ones and the rest are infinitely large; ``None`` if it falls on those.
    """
    if not 0.0 < q <= 1.0:
        raise ValueError("q must be in (0, 1]")
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total))
    return sorted_values[rank - 1] if rank <= len(sorted_values) else None


def summarize_round(
    *,
    triggered: Triggered,
    urls: Sequence[str],
    expected_by_target: Sequence[int],
    arrivals: Iterable[tuple[float, int]],
    closed_before: int,
    lost: int,
    reconnected: int,
    cpu_s: float,
    errors: Mapping[str, int],
) -> RoundSummary:
    """Turn arrivals (``time.monotonic()``, target index) into a :class:`RoundSummary`
    relative to ``triggered.sent_at``, the reading taken just before the trigger was sent.
    """
    sent_at = triggered.sent_at
    per_target: list[list[float]] = [[] for _ in urls]
    for at, target in arrivals:
        per_target[target].append((at - sent_at) * 1000.0)
    latencies = sorted(ms for target in per_target for ms in target)
    expected = sum(expected_by_target)
    received = len(latencies)
    by_target = []
    for url, wanted, got in zip(urls, expected_by_target, per_target, strict=True):
        got.sort()
        by_target.append(
            TargetSummary(
                url=url,
                expected=wanted,
                received=len(got),
                p50_ms=percentile(got, 0.50, wanted),
                p99_ms=percentile(got, 0.99, wanted),
                last_ms=percentile(got, 1.0, wanted),
            )
        )
    return RoundSummary(
        expected=expected,
        received=received,
        missing=expected - received,
        closed_before=closed_before,
        lost=lost,
        reconnected=reconnected,
        first_ms=latencies[0] if latencies else None,
        p50_ms=percentile(latencies, 0.50, expected),
        p99_ms=percentile(latencies, 0.99, expected),
        last_ms=percentile(latencies, 1.0, expected),
        answered_ms=(triggered.answered_at - sent_at) * 1000.0,
        generator_cpu_ms=cpu_s * 1000.0,
        errors=dict(errors),
        latencies_ms=tuple(latencies),
        triggered=triggered,
        by_target=tuple(by_target),
    )


def summarize_storm(
    *, triggered: Triggered, screens: int, arrivals: Iterable[tuple[float, float]]
) -> StormDelivery:
    """Turn ``(arrival, welcome)`` readings (``time.monotonic()``), one per screen that got
    the frame, into a :class:`StormDelivery` (see there)."""
    sent_at = triggered.sent_at
    latencies: list[float] = []
    before = 0
    for arrived, welcomed in arrivals:
        before += welcomed <= sent_at
        latencies.append(max(0.0, arrived - max(sent_at, welcomed)) * 1000.0)
    latencies.sort()
    return StormDelivery(
        screens=screens,
        received=len(latencies),
        welcomed_before=before,
        p50_ms=percentile(latencies, 0.50, screens),
        p99_ms=percentile(latencies, 0.99, screens),
        max_ms=percentile(latencies, 1.0, screens),
        answered_ms=(triggered.answered_at - sent_at) * 1000.0,
    )


def merge_counts(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for c in counts:
        total.update(c)
    return dict(total)


def fmt_ms(value: float | None) -> str:
    """Milliseconds for a table cell; ``—`` for "not reached"."""
    return "—" if value is None else f"{value:.1f}"
