"""Reconnect storm: how fast one node (or several) takes back N screens that all connect at once.

For each N (default 1,000 / 5,000): a fresh ``signage serve`` (or ``--nodes K`` of them on
one PostgreSQL, relayed over one private Redis, the screens dealt over their addresses
as an address list), N approved screens, then N WebSocket connections opened at once by
:mod:`bench.loadgen` (its own processes), each authenticated with its own device secret
and each a player following the reconnect contract of docs/devices.md (a refused or
failed attempt is retried after a full-jitter backoff, never sooner than ``Retry-After``,
on the next address); the figure is the time from the first connect until every session
holds its opening frames (welcome, active emergencies, manifest), the rate that gives,
the attempts retried, each server's peak RSS during the storm, and the CPU time the
server(s) spent meanwhile (user + system:
on a machine shared with other work the wall time stretches with everyone's load, the
server's own CPU time per session much less). The node runs with its shipped settings
(the GC policy freezes the heap while the storm opens sessions). In the same run, with
the same generator:

While the product's storm runs, an admin client (in this process, its own thread) sends
``GET /api/v1/tenants/{tid}/emergencies?active=true`` ten times a second, each on a fresh
connection (to the first node), and the report gives its p50 / p99 / worst latency:
whether admins' HTTP requests keep answering while every screen reconnects.

With ``--emergency-mid-storm``, every session watches for an emergency from its first
byte; once half the screens are back, one is POSTed to the first node (target: all), and
each screen's latency is ``max(0, arrival - max(POST sent, welcome of the session it came
on))``: the promise is < 2 s from each screen's welcome, and none missing it.

- the floor: a bare ``websockets`` server sending one frame to each new connection;
- the framework: bare Quart on Hypercorn (:mod:`bench.baseline_quart_server`) sending
  two frames (welcome and manifest), no auth, no database, no actors.

The storm is open-loop: the generator bounds the *upgrades* in flight
(``SessionPlan.connect_concurrency`` per worker, to stay under the accept backlog), not
the openings, so every screen that has its ``101`` waits for its opening frames at the
same time, as after a power cut. ``--closed-loop`` holds each slot until the session is
ready instead (the rate is then the cap over the time one opening takes); either mode
applies to the baselines and the product alike.

::

    python -m bench.reconnect_storm [--sizes 1000,5000,10000x3] [--nodes 1]
                                    [--emergency-mid-storm] [--provision sql|api]

A size ``NxK`` runs the product over K nodes (others over ``--nodes``); the baselines run
once per N, on one process each.

Loopback only; the servers and the generator share this machine's cores (the report
prints the load average: compare rows of one run, not across runs).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

from bench import fanout_baseline
from bench.baseline_control import BaselineServer
from bench.emergency_fanout import _json_trigger
from bench.emergency_setup import REPO, BenchDatabase, provision, signage_nodes
from bench.loadgen import (
    LoadGenerator,
    SessionPlan,
    StormDelivery,
    Trigger,
    TriggerFailed,
    http_call,
)
from bench.loadgen.summary import fmt_ms, percentile
from bench.loadgen.worker import raise_open_files_limit
from bench.procstat import PeakRss, cpu_seconds, stop_process

SIZES = (1_000, 5_000)
READY_MARKER = b'"type":"manifest"'
START_TIMEOUT_S = 20.0
#: Admin requests per second during the product's storm, and each one's time limit.
ADMIN_PER_S = 10.0
ADMIN_TIMEOUT_S = 10.0
#: The mid-storm emergency is POSTed once this share of the screens is back.
TRIGGER_AT = 0.5
#: How long after the last screen is back the emergency may still be on its way.
DELIVERY_TIMEOUT_S = 10.0


@dataclass(slots=True)
class AdminProbe:
    """An admin's GET, repeated while a storm runs (see the module docstring): a failed
    or timed-out request counts as infinitely slow in the percentiles."""

    url: str
    token: str
    latencies_s: list[float] = field(default_factory=list)
    failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="admin probe", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(ADMIN_TIMEOUT_S + 5.0)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                http_call("GET", self.url, headers=headers, timeout_s=ADMIN_TIMEOUT_S)
            except (OSError, TriggerFailed):
                self.failures += 1
            else:
                self.latencies_s.append(time.monotonic() - started)
            self._stop.wait(max(0.0, 1.0 / ADMIN_PER_S - (time.monotonic() - started)))

    @property
    def requests(self) -> int:
        return len(self.latencies_s) + self.failures

    def quantile_ms(self, q: float) -> float | None:
        value = percentile(sorted(self.latencies_s), q, self.requests)
        return None if value is None else value * 1000.0


@dataclass(frozen=True, slots=True)
class Storm:
    """What one storm measured."""

    ready: int
    open_s: float
    #: CPU seconds (user + system) the server process(es) used while the storm opened.
    cpu_s: float
    #: Each server process's highest RSS during the storm, KiB.
    peak_rss_kib: tuple[int, ...]
    #: Failed attempts the players retried (refused upgrades, closes before ready, ...).
    retried: int
    #: The emergency POSTed mid-storm (``--emergency-mid-storm``, the product only).
    delivery: StormDelivery | None

    @property
    def rate(self) -> float:
        return self.ready / self.open_s if self.open_s else 0.0

    @property
    def cpu_ms_per_session(self) -> float:
        return 1000.0 * self.cpu_s / self.ready if self.ready else 0.0


@dataclass(frozen=True, slots=True)
class Row:
    server: str
    sessions: int
    storm: Storm
    #: The admin GETs sent meanwhile (the product only).
    admin: AdminProbe | None = None
    nodes: int = 1


def _storm(
    urls: Sequence[str],
    count: int,
    workers: int,
    *,
    server_pids: Sequence[int],
    tokens: tuple[str, ...] = (),
    marker: bytes = READY_MARKER,
    admin: AdminProbe | None = None,
    emergency: tuple[Trigger, str] | None = None,
    open_loop: bool = True,
) -> Storm:
    """N players connecting at once to ``urls`` (dealt round-robin, each moving on to the
    next address after a failure); with ``emergency``, its trigger is fired once
    :data:`TRIGGER_AT` of them are back and each screen's delivery is collected."""
    plan = SessionPlan(
        url=tuple(urls),
        count=count,
        workers=workers,
        auth="bearer" if tokens else "none",
        tokens=tokens,
        ready_marker=marker,
        reconnect=True,
        watch_marker=emergency[1].encode() if emergency else b"",
        open_loop=open_loop,
    )
    with LoadGenerator(plan) as generator:
        cpu_before = sum(cpu_seconds(pid) for pid in server_pids)
        if admin is not None:
            admin.start()
        try:
            with PeakRss(server_pids) as rss:
                generator.start()
                triggered = None
                if emergency is not None:
                    generator.wait_ready(round(TRIGGER_AT * count), plan.open_timeout_s)
                    triggered = emergency[0]()
                opened = generator.wait_open()
        finally:
            if admin is not None:
                admin.stop()
        cpu = sum(cpu_seconds(pid) for pid in server_pids) - cpu_before
        delivery = (
            None if triggered is None else generator.collect_storm(triggered, DELIVERY_TIMEOUT_S)
        )
    return Storm(
        opened.ready,
        opened.elapsed_s,
        cpu,
        tuple(rss.peaks_kib),
        sum(opened.retried.values()),
        delivery,
    )


def product(
    count: int,
    workers: int,
    via: str,
    *,
    nodes: int = 1,
    emergency: bool = False,
    open_loop: bool = True,
) -> Row:
    with ExitStack() as stack:
        url = stack.enter_context(BenchDatabase())
        servers = signage_nodes(stack, url, nodes, name="storm")
        first = servers[0].base_url
        fleet = provision(first, url, count, via=via)
        tenant = f"{first}/api/v1/tenants/{fleet.tenant_id}"
        admin = AdminProbe(f"{tenant}/emergencies?active=true", fleet.operator_token)
        storm = _storm(
            [s.ws_url for s in servers],
            count,
            workers,
            server_pids=[s.pid for s in servers],
            tokens=fleet.secrets[:count],
            admin=admin,
            emergency=_json_trigger(tenant, fleet.operator_token) if emergency else None,
            open_loop=open_loop,
        )
    name = "signage" if nodes == 1 else f"signage x{nodes} nodes"
    return Row(f"{name} (auth, actors, manifest)", count, storm, admin=admin, nodes=nodes)


def floor(count: int, workers: int, *, open_loop: bool = True) -> Row:
    with BaselineServer() as server:
        marker = b"storm-opening"
        server.trigger_for(b'{"type":"storm-opening"}')()  # replayed to each new connection
        storm = _storm(
            [server.ws_url],
            count,
            workers,
            server_pids=[server.pid],
            marker=marker,
            open_loop=open_loop,
        )
    return Row("bare websockets (floor)", count, storm)


def framework(count: int, workers: int, *, open_loop: bool = True) -> Row:
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
        storm = _storm([url], count, workers, server_pids=[process.pid], open_loop=open_loop)
    finally:
        stop_process(process, 10.0)
        if process.stdout is not None:
            process.stdout.close()
    return Row("bare Quart/Hypercorn", count, storm)


def render(rows: list[Row]) -> str:
    lines = [
        "| server | screens | ready | all open s | opened / s | vs floor "
        "| server CPU s | CPU ms / session | CPU vs Quart | admin GET p50 / p99 / max ms "
        "| peak RSS MiB | retried |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    floors = {r.sessions: r.storm for r in rows if r.server.startswith("bare websockets")}
    frameworks = {r.sessions: r.storm for r in rows if r.server.startswith("bare Quart")}
    for row in rows:
        s = row.storm
        base = floors.get(row.sessions)
        ratio = f"{s.open_s / base.open_s:.2f}x" if base and base.open_s else "—"
        quart = frameworks.get(row.sessions)
        cpu_ratio = (
            f"{s.cpu_ms_per_session / quart.cpu_ms_per_session:.2f}x"
            if quart and quart.cpu_ms_per_session
            else "—"
        )
        rss = " / ".join(f"{kib / 1024:.0f}" for kib in s.peak_rss_kib) or "—"
        lines.append(
            f"| {row.server} | {row.sessions:,} | {s.ready:,} | {s.open_s:.2f} "
            f"| {s.rate:,.0f} | {ratio} | {s.cpu_s:.2f} | {s.cpu_ms_per_session:.2f} "
            f"| {cpu_ratio} | {_admin_cell(row.admin)} | {rss} | {s.retried:,} |"
        )
    return "\n".join(lines)


def render_deliveries(rows: list[Row]) -> str:
    """The mid-storm emergencies, one line per product row that had one."""
    lines = [
        "| server | screens | back before the POST | got it | missed "
        "| from welcome p50 / p99 / max ms | POST answered ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        if (d := row.storm.delivery) is not None:
            cells = " / ".join(fmt_ms(v) for v in (d.p50_ms, d.p99_ms, d.max_ms))
            lines.append(
                f"| {row.server} | {row.sessions:,} | {d.welcomed_before:,} | {d.received:,} "
                f"| {d.missed:,} | {cells} | {d.answered_ms:.0f} |"
            )
    return "\n".join(lines)


def _admin_cell(admin: AdminProbe | None) -> str:
    if admin is None or not admin.requests:
        return "—"
    cells = [fmt_ms(admin.quantile_ms(q)) for q in (0.5, 0.99, 1.0)]
    failed = f", {admin.failures} failed" if admin.failures else ""
    return f"{' / '.join(cells)} ({admin.requests} GETs{failed})"


def parse_sizes(text: str, nodes: int) -> list[tuple[int, int]]:
    """``"1000,10000x3"`` -> ``[(1000, nodes), (10000, 3)]``: screens and product nodes."""
    sizes = []
    for item in text.split(","):
        count, _, over = item.strip().partition("x")
        sizes.append((int(count), int(over) if over else nodes))
    if any(count < 1 or k < 1 for count, k in sizes):
        raise ValueError(f"sizes are N or NxK with N, K >= 1: {text!r}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Reconnect storm: session opening rate.")
    parser.add_argument(
        "--sizes",
        default=",".join(str(n) for n in SIZES),
        help="screens per storm, comma-separated; NxK runs the product over K nodes",
    )
    parser.add_argument("--nodes", type=int, default=1, help="product nodes for a plain N")
    parser.add_argument(
        "--emergency-mid-storm",
        action="store_true",
        help="POST an emergency once half the screens are back; per-screen latency",
    )
    parser.add_argument("--provision", choices=("api", "sql"), default="sql")
    parser.add_argument(
        "--closed-loop",
        action="store_true",
        help="hold each generator slot until the session is ready, not until its 101",
    )
    parser.add_argument("--workers", type=int, default=fanout_baseline.default_workers())
    args = parser.parse_args(argv)
    sizes = parse_sizes(args.sizes, args.nodes)
    open_loop = not args.closed_loop
    raise_open_files_limit()  # the servers started from here inherit it (10,000 sockets)
    load_start = fanout_baseline.load_average()
    rows: list[Row] = []
    started = time.monotonic()
    baselined: set[int] = set()
    for count, nodes in sizes:
        if count not in baselined:
            baselined.add(count)
            rows.append(floor(count, args.workers, open_loop=open_loop))
            rows.append(framework(count, args.workers, open_loop=open_loop))
        rows.append(
            product(
                count,
                args.workers,
                args.provision,
                nodes=nodes,
                emergency=args.emergency_mid_storm,
                open_loop=open_loop,
            )
        )
    print(render(rows))
    if args.emergency_mid_storm:
        print("\nEmergency POSTed mid-storm, latency per screen from its welcome:\n")
        print(render_deliveries(rows))
    print(
        f"\n{args.workers} generator worker(s), {'open' if open_loop else 'closed'} loop; "
        f"screens provisioned via {args.provision}; "
        f"load average {load_start} at the start, {fanout_baseline.load_average()} at the "
        f"end; {time.monotonic() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
