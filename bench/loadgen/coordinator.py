"""The load generator's public face: open N device sessions in worker processes, run rounds.

::

    plan = SessionPlan(url="ws://127.0.0.1:8000/api/v1/devices/ws", count=10_000)
    # or several nodes, sessions dealt round-robin: url=("ws://127.0.0.1:8001/...", ...)
    with LoadGenerator(plan) as gen:
        opened = gen.open()                       # bounded by plan.open_timeout_s
        summary = gen.run_round(trigger, marker=b"e-7f3a", timeout_s=10)

A round arms every ready session to watch for ``marker`` (bytes that only the awaited
frame contains, such as a unique token in the emergency's message), fires ``trigger``
(which stamps its send time just before writing), and waits until every armed session
has the frame or ``timeout_s`` has passed. Arrival times are ``time.monotonic()``,
i.e. Linux ``CLOCK_MONOTONIC``, one system-wide clock, so the workers' readings and
the trigger's are directly comparable.

A reconnect storm with a trigger in the middle of it (players following the reconnect
contract, every session watching for the marker from its first byte)::

    plan = SessionPlan(url=urls, count=10_000, reconnect=True, watch_marker=b"e-7f3a")
    with LoadGenerator(plan) as gen:
        gen.start()
        gen.wait_ready(5_000, timeout_s=60)       # half the screens are back
        triggered = trigger()
        opened = gen.wait_open()
        delivery = gen.collect_storm(triggered, timeout_s=10)   # per screen, from its welcome

Every wait here is bounded; leaving the ``with`` block closes the sessions and reaps the
workers (terminating any that do not exit in time).
"""

from __future__ import annotations

import math
import multiprocessing
import resource
import time
from collections.abc import MutableSequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

from bench.loadgen.messages import (
    Arm,
    Armed,
    AuthMode,
    Close,
    Closed,
    Collect,
    Command,
    Failed,
    Opened,
    Reply,
    Report,
    Target,
    WorkerSpec,
)
from bench.loadgen.summary import (
    OpenSummary,
    RoundSummary,
    StormDelivery,
    merge_counts,
    summarize_round,
    summarize_storm,
)
from bench.loadgen.trigger import Trigger, Triggered
from bench.loadgen.worker import worker_main
from bench.loopback import DEFAULT_SOURCE_ADDRESSES, require_loopback

#: File descriptors a worker keeps for itself (pipe, event loop, stdio, imports).
_FD_RESERVE = 64
#: How long a worker may take to start (spawn + imports) on top of its open phase.
_STARTUP_GRACE_S = 30.0
#: Bound on lock-step replies that involve no network wait (Arm, Close).
_REPLY_TIMEOUT_S = 30.0
#: How long a closed worker may take to exit before it is terminated.
_JOIN_TIMEOUT_S = 10.0


class LoadGeneratorError(Exception):
    """A worker failed, died, or did not answer in time; the run's figures are void."""


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """Who connects where, how, and within which bounds.

    ``url`` is one ``ws://`` URL, or several (one per server node): session ``g`` then
    connects to ``urls[g % len(urls)]``, and rounds report each node separately too.
    ``workers`` is a minimum: more are used if ``count`` would not fit under the open-files
    limit in that many processes. ``tokens`` holds one token per session when ``auth`` is
    ``"bearer"`` (``Authorization`` header on the upgrade) or ``"hello"`` (first text frame
    ``{"type":"hello","token":...}``). A non-empty ``ready_marker`` makes a session ready
    only once a message containing it arrived (e.g. ``b'"type":"welcome"'``) rather than
    at the ``101``. ``stall_every = k`` makes every k-th session stop reading once ready
    (the "device that never reads" of adversarial runs); stalled sessions are not expected
    to receive anything. ``source_addresses`` must be of the targets' address family.

    ``reconnect`` makes each session a player following the reconnect contract of
    docs/devices.md while opening: a failed attempt (refused upgrade, close before ready,
    timeout) is retried after a full-jitter exponential backoff, never sooner than the
    refusal's ``Retry-After``, on the next URL of the list (4401 is final). A non-empty
    ``watch_marker`` arms every session for it from its first byte (a trigger fired while
    the storm opens, see :meth:`LoadGenerator.collect_storm`).

    ``open_loop`` makes ``connect_concurrency`` bound the *upgrades* in flight rather than
    the openings: a slot is freed when the ``101`` arrives (or the attempt fails), and
    ``handshake_timeout_s`` bounds the upgrade only; the upgraded session then waits for
    its ``ready_marker`` for as long as the open phase lasts (``open_timeout_s``), as a
    player keeps a session it got (``simulator.screen``). Closed loop (the default) holds
    the slot until the session is ready, so at most ``connect_concurrency`` sessions per
    worker are opening at once and the rate measured is that cap over the time one
    opening takes, not a server's answer to "everyone at once".
    """

    url: str | tuple[str, ...]
    count: int
    workers: int = 2
    source_addresses: tuple[str, ...] = DEFAULT_SOURCE_ADDRESSES
    auth: AuthMode = "none"
    tokens: tuple[str, ...] = ()
    ready_marker: bytes = b""
    stall_every: int = 0
    #: Handshakes in flight per worker; above the server's accept backlog, SYNs get dropped
    #: and the kernel retries them a second later, which is the generator's fault, not the
    #: server's.
    connect_concurrency: int = 64
    handshake_timeout_s: float = 15.0
    open_timeout_s: float = 180.0
    #: Workers exit by themselves after this long, whatever happens to the coordinator.
    max_lifetime_s: float = 1800.0
    reconnect: bool = False
    watch_marker: bytes = b""
    open_loop: bool = False

    @property
    def urls(self) -> tuple[str, ...]:
        return (self.url,) if isinstance(self.url, str) else self.url

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("a plan needs at least one URL")
        for url in self.urls:
            parse_target(url)
        for address in self.source_addresses:
            require_loopback(address)
        if self.count < 1 or self.workers < 1 or not self.source_addresses:
            raise ValueError("a plan needs count >= 1, workers >= 1 and a source address")
        if self.auth != "none" and len(self.tokens) != self.count:
            raise ValueError(f"auth={self.auth!r} needs exactly one token per session")
        if self.stall_every < 0 or self.connect_concurrency < 1:
            raise ValueError("stall_every >= 0 and connect_concurrency >= 1")


def parse_target(url: str) -> Target:
    """A :class:`Target` from a ``ws://`` URL on a loopback host.

    :raises ValueError: if it is not ``ws://`` (``NotLoopback`` if the host is not loopback).
    """
    parts = urlsplit(url)
    if parts.scheme != "ws":
        raise ValueError(f"session URLs are ws://, not {url!r}")
    host = require_loopback(parts.hostname)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(url, host.strip("[]"), parts.port or 80, path, parts.netloc)


class LoadGenerator:
    """N device sessions spread over worker processes; see the module docstring."""

    def __init__(self, plan: SessionPlan) -> None:
        self._plan = plan
        self._context = multiprocessing.get_context("spawn")  # no inherited loop, fds or locks
        self._workers: list[tuple[BaseProcess, Connection]] = []
        self._opened = False
        self._started_at = 0.0
        #: One slot per worker: its sessions ready so far (see :meth:`ready_so_far`).
        self._progress: MutableSequence[int] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- opening ----------------------------------------------------------------------

    def open(self) -> OpenSummary:
        """Start the workers and wait until each has opened its share (or run out of time).

        :raises LoadGeneratorError: if a worker crashed or never reported.
        """
        self.start()
        return self.wait_open()

    def start(self) -> None:
        """Start the workers, which open their sessions at once; :meth:`wait_open` next."""
        if self._opened:
            raise RuntimeError("open() once per LoadGenerator")
        self._opened = True
        self._started_at = time.monotonic()
        specs = self._specs()
        self._progress = self._context.RawArray("q", len(specs))
        for spec in specs:
            parent, child = self._context.Pipe(duplex=True)
            process = self._context.Process(
                target=worker_main,
                args=(child, spec, self._progress),
                name=f"loadgen-{spec.worker_id}",
            )
            process.daemon = True  # dies with the coordinator
            process.start()
            child.close()
            self._workers.append((process, parent))

    def ready_so_far(self) -> int:
        """Sessions that became ready so far while opening (all workers together)."""
        return sum(self._progress)

    def wait_ready(self, count: int, timeout_s: float) -> bool:
        """Wait until at least ``count`` sessions are ready (polled every 10 ms), or
        ``timeout_s`` has passed, or a worker has finished opening; whether they are."""
        deadline = time.monotonic() + timeout_s
        while self.ready_so_far() < count:
            if time.monotonic() > deadline or any(pipe.poll() for _p, pipe in self._workers):
                return self.ready_so_far() >= count
            time.sleep(0.01)  # shared-memory counters: nothing to wait on but the clock
        return True

    def wait_open(self) -> OpenSummary:
        """Wait until each worker has opened its share (or run out of time).

        :raises LoadGeneratorError: if a worker crashed or never reported.
        """
        if not self._workers:
            raise RuntimeError("start() first")
        replies = self._gather(Opened, self._plan.open_timeout_s + _STARTUP_GRACE_S)
        return OpenSummary(
            requested=self._plan.count,
            ready=sum(r.ready for r in replies),
            failed=sum(r.failed for r in replies),
            stalled=sum(r.stalled for r in replies),
            errors=merge_counts(r.errors for r in replies),
            elapsed_s=time.monotonic() - self._started_at,
            retried=merge_counts(r.retried for r in replies),
        )

    def _specs(self) -> list[WorkerSpec]:
        plan = self._plan
        targets = tuple(parse_target(url) for url in plan.urls)
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        per_process = hard - _FD_RESERVE
        workers = max(plan.workers, math.ceil(plan.count / per_process))
        workers = min(workers, plan.count)
        specs = []
        first = 0
        for w in range(workers):
            count = plan.count // workers + (1 if w < plan.count % workers else 0)
            # Disjoint source addresses per worker when there are enough of them.
            sources = plan.source_addresses[w::workers] or plan.source_addresses
            specs.append(
                WorkerSpec(
                    worker_id=w,
                    targets=targets,
                    first=first,
                    count=count,
                    source_addresses=sources,
                    auth=plan.auth,
                    tokens=plan.tokens[first : first + count],
                    ready_marker=plan.ready_marker,
                    stall_every=plan.stall_every,
                    connect_concurrency=plan.connect_concurrency,
                    handshake_timeout_s=plan.handshake_timeout_s,
                    open_timeout_s=plan.open_timeout_s,
                    max_lifetime_s=plan.max_lifetime_s,
                    reconnect=plan.reconnect,
                    watch_marker=plan.watch_marker,
                    open_loop=plan.open_loop,
                )
            )
            first += count
        return specs

    # -- rounds -----------------------------------------------------------------------

    def run_round(
        self,
        trigger: Trigger,
        marker: bytes,
        timeout_s: float,
        *,
        reconnect_fraction: float = 0.0,
    ) -> RoundSummary:
        """Arm the sessions for ``marker``, fire ``trigger``, collect arrivals.

        ``marker`` must occur in the awaited frame and in no frame sent before it this
        round; a fresh random token per round is the easy way. Waits at most ``timeout_s``
        after the trigger was sent; sessions without the frame by then count as missing.

        ``reconnect_fraction`` > 0 makes it a reconnect-storm round: that share of the
        expected sessions is dropped when armed and reconnected at once, racing the trigger;
        the replacements are expected to get the frame too (a server that replays active
        emergencies on connect passes; one that does not shows them as missing).

        :raises LoadGeneratorError: if a worker fails or stops answering.
        :raises Exception: whatever ``trigger`` raises (the round is then abandoned cleanly).
        """
        if not self._workers:
            raise RuntimeError("open() first")
        if not 0.0 <= reconnect_fraction <= 1.0:
            raise ValueError("reconnect_fraction is a share, from 0.0 to 1.0")
        self._broadcast(Arm(marker, reconnect_fraction))
        self._gather(Armed, _REPLY_TIMEOUT_S)
        try:
            triggered = trigger()
        except BaseException:
            self._broadcast(Collect(deadline=0.0))  # disarm; nothing will arrive
            self._gather(Report, _REPLY_TIMEOUT_S)
            raise
        self._broadcast(Collect(deadline=triggered.sent_at + timeout_s))
        reports = self._gather(Report, timeout_s + _REPLY_TIMEOUT_S)
        expected = [r.expected_by_target for r in reports]
        return summarize_round(
            triggered=triggered,
            urls=self._plan.urls,
            expected_by_target=[sum(column) for column in zip(*expected, strict=True)],
            closed_before=sum(r.closed_before for r in reports),
            arrivals=(arrival for r in reports for arrival in r.arrivals),
            lost=sum(r.lost for r in reports),
            reconnected=sum(r.reconnected for r in reports),
            cpu_s=sum(r.cpu_s for r in reports),
            errors=merge_counts(r.errors for r in reports),
        )

    def collect_storm(self, triggered: Triggered, timeout_s: float) -> StormDelivery:
        """After :meth:`wait_open` of a plan with a ``watch_marker``: wait until every
        screen has the marked frame, at most ``timeout_s`` from now, and summarise each
        screen's latency from ``max(trigger sent, its session's welcome)``.

        :raises LoadGeneratorError: if a worker fails or stops answering.
        """
        if not self._plan.watch_marker:
            raise RuntimeError("collect_storm() needs a plan with a watch_marker")
        self._broadcast(Collect(deadline=time.monotonic() + timeout_s))
        reports = self._gather(Report, timeout_s + _REPLY_TIMEOUT_S)
        return summarize_storm(
            triggered=triggered,
            screens=self._plan.count,
            arrivals=[screen for r in reports for screen in r.screens],
        )

    # -- closing ----------------------------------------------------------------------

    def close(self) -> None:
        """Close every session and reap every worker; idempotent, bounded in time."""
        if not self._workers:
            return
        try:
            self._broadcast(Close())
            self._gather(Closed, _REPLY_TIMEOUT_S)
        except LoadGeneratorError:
            pass  # reaped below regardless
        finally:
            deadline = time.monotonic() + _JOIN_TIMEOUT_S
            for process, pipe in self._workers:
                process.join(max(0.0, deadline - time.monotonic()))
                if process.is_alive():
                    process.terminate()
                    process.join(_JOIN_TIMEOUT_S)
                pipe.close()
            self._workers.clear()

    # -- the pipes --------------------------------------------------------------------

    def _broadcast(self, command: Command) -> None:
        for process, pipe in self._workers:
            try:
                pipe.send(command)
            except OSError as exc:
                raise LoadGeneratorError(f"{process.name} is gone: {exc}") from None

    def _gather[R: Reply](self, kind: type[R], timeout_s: float) -> list[R]:
        """One reply of type ``kind`` from every worker, within ``timeout_s``.

        :raises LoadGeneratorError: on a :class:`Failed` reply, a dead worker, a reply of
            another type, or the timeout.
        """
        deadline = time.monotonic() + timeout_s
        replies: dict[int, R] = {}
        waiting = {pipe: process for process, pipe in self._workers}
        while waiting:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                names = ", ".join(p.name for p in waiting.values())
                raise LoadGeneratorError(f"no {kind.__name__} within {timeout_s:.0f}s: {names}")
            for ready in wait(list(waiting), remaining):
                assert isinstance(ready, Connection)
                process = waiting.pop(ready)
                try:
                    reply = ready.recv()
                except (EOFError, OSError):
                    raise LoadGeneratorError(
                        f"{process.name} died (exit code {process.exitcode})"
                    ) from None
                if isinstance(reply, Failed):
                    raise LoadGeneratorError(f"{process.name} failed: {reply.reason}")
                if not isinstance(reply, kind):
                    raise LoadGeneratorError(
                        f"{process.name} answered {type(reply).__name__}, not {kind.__name__}"
                    )
                replies[reply.worker_id] = reply
        return [replies[w] for w in sorted(replies)]
