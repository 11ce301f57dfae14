"""Reconnect storm: how fast one node takes back N screens that all connect at once.

For each N (default 1,000 / 5,000): a fresh ``signage serve``, N approved screens, then
N WebSocket connections opened at once by :mod:`bench.loadgen` (its own processes), each
authenticated with its own device secret; the figure is the time from the first connect
until every session holds its opening frames (welcome, active emergencies, manifest),
and the rate that gives, and the CPU time the server spent meanwhile (user + system:
on a machine shared with other work the wall time stretches with everyone's load, the
server's own CPU time per session much less). The node runs with its shipped settings
(the GC policy freezes the heap while the storm opens sessions). In the same run, with
the same generator:

While the product's storm runs, an admin client (in this process, its own thread) sends
``GET /api/v1/tenants/{tid}/emergencies?active=true`` ten times a second, each on a fresh
connection, and the report gives its p50 / p99 / worst latency: whether admins' HTTP
requests keep answering while every screen reconnects.

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
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

from bench import fanout_baseline
from bench.baseline_control import BaselineServer
from bench.emergency_setup import REPO, BenchDatabase, SignageNode, provision
from bench.loadgen import LoadGenerator, SessionPlan, TriggerFailed, http_call
from bench.loadgen.summary import fmt_ms, percentile
from bench.procstat import cpu_seconds, stop_process

SIZES = (1_000, 5_000)
READY_MARKER = b'"type":"manifest"'
START_TIMEOUT_S = 20.0
#: Admin requests per second during the product's storm, and each one's time limit.
ADMIN_PER_S = 10.0
ADMIN_TIMEOUT_S = 10.0


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
class Row:
    server: str
    sessions: int
    ready: int
    open_s: float
    #: CPU seconds (user + system) the server process used while the storm opened.
    cpu_s: float
    #: The admin GETs sent meanwhile (the product only).
    admin: AdminProbe | None = None

    @property
    def rate(self) -> float:
        return self.ready / self.open_s if self.open_s else 0.0

    @property
    def cpu_ms_per_session(self) -> float:
        return 1000.0 * self.cpu_s / self.ready if self.ready else 0.0


def _storm(
    url: str,
    count: int,
    workers: int,
    *,
    server_pid: int,
    tokens: tuple[str, ...] = (),
    marker: bytes = READY_MARKER,
    admin: AdminProbe | None = None,
) -> tuple[int, float, float]:
    plan = SessionPlan(
        url=(url,),
        count=count,
        workers=workers,
        auth="bearer" if tokens else "none",
        tokens=tokens,
        ready_marker=marker,
    )
    with LoadGenerator(plan) as generator:
        cpu_before = cpu_seconds(server_pid)
        if admin is not None:
            admin.start()
        try:
            opened = generator.open()
        finally:
            if admin is not None:
                admin.stop()
        cpu = cpu_seconds(server_pid) - cpu_before
    return opened.ready, opened.elapsed_s, cpu


def product(count: int, workers: int, via: str) -> Row:
    with ExitStack() as stack:
        url = stack.enter_context(BenchDatabase())
        node = stack.enter_context(SignageNode(url, {}, "storm"))
        fleet = provision(node.base_url, url, count, via=via)
        admin = AdminProbe(
            f"{node.base_url}/api/v1/tenants/{fleet.tenant_id}/emergencies?active=true",
            fleet.operator_token,
        )
        ready, took, cpu = _storm(
            node.ws_url,
            count,
            workers,
            server_pid=node.pid,
            tokens=fleet.secrets[:count],
            admin=admin,
        )
    return Row("signage (auth, actors, manifest)", count, ready, took, cpu, admin)


def floor(count: int, workers: int) -> Row:
    with BaselineServer() as server:
        marker = b"storm-opening"
        server.trigger_for(b'{"type":"storm-opening"}')()  # replayed to each new connection
        ready, took, cpu = _storm(
            server.ws_url, count, workers, server_pid=server.pid, marker=marker
        )
    return Row("bare websockets (floor)", count, ready, took, cpu)


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
        ready, took, cpu = _storm(url, count, workers, server_pid=process.pid)
    finally:
        stop_process(process, 10.0)
        if process.stdout is not None:
            process.stdout.close()
    return Row("bare Quart/Hypercorn", count, ready, took, cpu)


def render(rows: list[Row]) -> str:
    lines = [
        "| server | screens | ready | all open s | opened / s | vs floor "
        "| server CPU s | CPU ms / session | CPU vs Quart | admin GET p50 / p99 / max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    floors = {r.sessions: r for r in rows if r.server.startswith("bare websockets")}
    frameworks = {r.sessions: r for r in rows if r.server.startswith("bare Quart")}
    for row in rows:
        base = floors.get(row.sessions)
        ratio = f"{row.open_s / base.open_s:.2f}x" if base and base.open_s else "—"
        quart = frameworks.get(row.sessions)
        cpu_ratio = (
            f"{row.cpu_ms_per_session / quart.cpu_ms_per_session:.2f}x"
            if quart and quart.cpu_ms_per_session
            else "—"
        )
        lines.append(
            f"| {row.server} | {row.sessions:,} | {row.ready:,} | {row.open_s:.2f} "
            f"| {row.rate:,.0f} | {ratio} | {row.cpu_s:.2f} | {row.cpu_ms_per_session:.2f} "
            f"| {cpu_ratio} | {_admin_cell(row.admin)} |"
        )
    return "\n".join(lines)


def _admin_cell(admin: AdminProbe | None) -> str:
    if admin is None or not admin.requests:
        return "—"
    cells = [fmt_ms(admin.quantile_ms(q)) for q in (0.5, 0.99, 1.0)]
    failed = f", {admin.failures} failed" if admin.failures else ""
    return f"{' / '.join(cells)} ({admin.requests} GETs{failed})"


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
