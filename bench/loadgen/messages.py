"""What the coordinator and its worker processes say to each other, over one pipe each.

The exchange is lock-step; every step has a reply the coordinator waits for, bounded::

    worker  → Opened                  once its share of sessions is up (or its time ran out)
    coord   → Arm(marker)             → Armed    sessions now watch for the marker
    (the coordinator fires the trigger)
    coord   → Collect(deadline)       → Report   when all armed sessions have it, or at deadline
    coord   → Close                   → Closed   sessions closed, the worker exits

Watching a storm (``WorkerSpec.watch_marker``), the sessions are armed from the start: the
coordinator fires the trigger while they open, and sends ``Collect`` right after
``Opened``, without an ``Arm``.

Times are ``time.monotonic()`` readings. On Linux that is ``CLOCK_MONOTONIC``, one clock
for the whole machine, so readings from different processes can be subtracted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

AuthMode = Literal["none", "bearer", "hello"]


@dataclass(frozen=True, slots=True)
class Target:
    """A server (one node) sessions connect to, from a ``ws://`` URL."""

    url: str
    host: str
    port: int
    path: str
    host_header: str


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """One worker's share of a :class:`~bench.loadgen.coordinator.SessionPlan`."""

    worker_id: int
    #: Session ``g`` (global index) connects to ``targets[g % len(targets)]``.
    targets: tuple[Target, ...]
    #: Global index of this worker's first session; its sessions are ``first .. first+count-1``.
    first: int
    count: int
    source_addresses: tuple[str, ...]
    auth: AuthMode
    #: One token per session of this worker (empty when ``auth == "none"``).
    tokens: tuple[str, ...]
    ready_marker: bytes
    stall_every: int
    connect_concurrency: int
    handshake_timeout_s: float
    open_timeout_s: float
    max_lifetime_s: float
    #: Players following the reconnect contract (see ``SessionPlan.reconnect``).
    reconnect: bool = False
    #: Non-empty: every session watches for it from its first byte (``SessionPlan``).
    watch_marker: bytes = b""
    #: Slots held until the upgrade, not until ready (see ``SessionPlan.open_loop``).
    open_loop: bool = False


@dataclass(frozen=True, slots=True)
class Opened:
    worker_id: int
    ready: int
    failed: int
    stalled: int
    #: Failure reason → how many sessions failed that way.
    errors: dict[str, int]
    elapsed_s: float
    #: Failed attempts that were retried (reconnect contract), by reason.
    retried: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Arm:
    marker: bytes
    #: Share of the expected sessions to drop and reconnect right away (a reconnect storm
    #: racing the trigger); 0.0 for none.
    reconnect_fraction: float = 0.0


@dataclass(frozen=True, slots=True)
class Armed:
    worker_id: int
    #: Sessions that are open, ready and reading: the ones expected to receive the marker.
    expected: int


@dataclass(frozen=True, slots=True)
class Collect:
    #: ``time.monotonic()`` after which sessions still waiting count as missing.
    deadline: float


@dataclass(frozen=True, slots=True)
class Report:
    worker_id: int
    #: Expected sessions per target (index as in ``WorkerSpec.targets``).
    expected_by_target: list[int]
    #: Sessions opened successfully but no longer open when the round was armed.
    closed_before: int
    #: ``(time.monotonic(), target index)`` for each session that got the marked frame.
    arrivals: list[tuple[float, int]] = field(default_factory=list)
    #: Expected sessions that closed during the round without the frame.
    lost: int = 0
    #: Storm reconnects that completed their handshake during the round.
    reconnected: int = 0
    #: CPU seconds this worker spent between Arm and Report: what the generator cost.
    cpu_s: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    #: Watching a storm (``watch_marker``): per screen that got the marked frame, when,
    #: and when the session that got it had been welcomed.
    screens: list[tuple[float, float]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Close:
    pass


@dataclass(frozen=True, slots=True)
class Closed:
    worker_id: int
    errors: dict[str, int]


@dataclass(frozen=True, slots=True)
class Failed:
    """The worker itself crashed; ``reason`` is the exception, one line."""

    worker_id: int
    reason: str


Command = Arm | Collect | Close
Reply = Opened | Armed | Report | Closed | Failed
