"""The edge's own metrics: HTTP answers and latency, device sessions and how they end,
the PostgreSQL pool, the process, and what build is running.

Everything is registered on the app's :class:`~actors.metrics.MetricsRegistry` (its own
``CollectorRegistry``, never the global one). Pool and process figures are read at
scrape time; the request path pays one histogram observation and one counter increment,
on children looked up by (method, route template) — never by raw path, so ids in URLs
cannot grow the series.
"""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Callable, Iterable
from typing import Protocol

from prometheus_client import PlatformCollector, ProcessCollector
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from actors.metrics import Counter, HistogramChild, MetricsRegistry
from edge.ws_frames import fast_path_enabled

#: HTTP latency buckets (seconds): 5 ms to 10 s; uploads and reports sit at the top.
HTTP_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: The ``route`` label of a request no route matched (404, 405).
UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class PoolStats(Protocol):
    """What :class:`psycopg_pool.AsyncConnectionPool` reports (``get_stats``)."""

    def get_stats(self) -> dict[str, int]: ...


class EdgeMetrics:
    def __init__(
        self,
        registry: MetricsRegistry,
        sessions: Callable[[], int],
        pool: PoolStats | None = None,
    ) -> None:
        self.http_responses = registry.counter(
            "signage_http_responses_total",
            "HTTP answers by status code (4xx and 5xx are the errors).",
            labels=("status",),
        )
        self._http_seconds = registry.histogram(
            "signage_http_request_duration_seconds",
            "Time from the request's arrival in the app to its answer, by method and route "
            "template (unmatched: no route).",
            HTTP_BUCKETS,
            labels=("method", "route"),
        )
        self.ws_closes: Counter = registry.counter(
            "signage_ws_closes_total",
            "Device WebSocket sessions closed by the server, by close code.",
            labels=("code",),
        )
        self.ws_refused = registry.counter(
            "signage_ws_refused_total",
            "Device WebSocket upgrades refused before authentication (rate limit, admission "
            "control: node full or busy opening sessions, node draining).",
        )
        self._ws_opened = registry.counter(
            "signage_ws_opened_total",
            "Device sessions opened: authenticated and handed to their actor (rate() of it "
            "is the opening rate during a reconnect storm).",
        ).labels()
        self._ws_opening_seconds = registry.histogram(
            "signage_ws_opening_seconds",
            "Time from a device's upgrade request to its session being authenticated and "
            "handed to its actor (admission, handshake, credential lookup).",
        ).labels()
        registry.callback(
            "signage_device_sessions",
            "Device sessions live on this node.",
            lambda: [((), float(sessions()))],
        )
        registry.callback(
            "signage_fast_path_enabled",
            "1 when the WebSocket fast path is on (library versions as verified), else 0.",
            lambda: [((), 1.0 if fast_path_enabled() else 0.0)],
        )
        registry.info("signage_build_info", "The running build (value is always 1).", build())
        registry.register(ProcessCollector(registry=None), what="process_*")
        registry.register(PlatformCollector(registry=None), what="python_info")
        if pool is not None:
            registry.register(PoolCollector(pool), what="signage_db_pool_*")

    def ws_opened(self, seconds: float) -> None:
        self._ws_opened.inc()
        self._ws_opening_seconds.observe(seconds)

    def http_answered(self, method: str, route: str | None, status: int, seconds: float) -> None:
        """Count one HTTP answer. ``route`` is the matched rule's template, ``None`` when
        no route matched; methods outside the usual set count as ``other``."""
        self.http_responses.inc(status=str(status))
        self.http_seconds(method, route).observe(seconds)

    def http_seconds(self, method: str, route: str | None) -> HistogramChild:
        return self._http_seconds.labels(
            method=method if method in _METHODS else "other", route=route or UNMATCHED
        )


def build() -> dict[str, str]:
    """The ``signage_build_info`` labels: this package's version, Python's, and the HTTP
    stack's (the WebSocket fast path is tied to Hypercorn's internals)."""

    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"

    return {
        "version": version("signage"),
        "python": platform.python_version(),
        "hypercorn": version("hypercorn"),
        "quart": version("quart"),
    }


class PoolCollector:
    """The PostgreSQL pool's gauges and counters, read from ``get_stats()`` at each
    scrape (its counters run from the pool's creation, as Prometheus counters should)."""

    _GAUGES = (
        ("signage_db_pool_size", "pool_size", "Connections the pool holds (busy or idle)."),
        ("signage_db_pool_available", "pool_available", "Idle connections ready to lend."),
        ("signage_db_pool_waiting", "requests_waiting", "Requests waiting for a connection."),
        ("signage_db_pool_min", "pool_min", "The pool's minimum size (DB_POOL_MIN)."),
        ("signage_db_pool_max", "pool_max", "The pool's maximum size (DB_POOL_MAX)."),
    )
    _COUNTERS = (
        ("signage_db_pool_requests_total", "requests_num", "Connections requested.", 1.0),
        (
            "signage_db_pool_request_errors_total",
            "requests_errors",
            "Connection requests that failed (timed out waiting, or pool closed).",
            1.0,
        ),
        (
            "signage_db_pool_request_wait_seconds_total",
            "requests_wait_ms",
            "Time requests spent waiting for a connection.",
            0.001,
        ),
        (
            "signage_db_pool_connection_errors_total",
            "connections_errors",
            "Failed attempts to open a connection to PostgreSQL.",
            1.0,
        ),
        (
            "signage_db_pool_connections_lost_total",
            "connections_lost",
            "Connections found broken and discarded.",
            1.0,
        ),
    )

    def __init__(self, pool: PoolStats) -> None:
        self._pool = pool

    def describe(self) -> Iterable[Metric]:
        return self._families({})

    def collect(self) -> Iterable[Metric]:
        return self._families(self._pool.get_stats())

    def _families(self, stats: dict[str, int]) -> list[Metric]:
        families: list[Metric] = []
        for name, key, help in self._GAUGES:
            gauge = GaugeMetricFamily(name, help)
            if stats:
                gauge.add_metric([], float(stats.get(key, 0)))
            families.append(gauge)
        for name, key, help, scale in self._COUNTERS:
            counter = CounterMetricFamily(name, help)
            if stats:
                counter.add_metric([], stats.get(key, 0) * scale)
            families.append(counter)
        return families
