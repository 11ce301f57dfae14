"""The edge's own metrics: HTTP answers by status, device sessions and how they end."""

from __future__ import annotations

from collections.abc import Callable

from actors.metrics import Counter, MetricsRegistry


class EdgeMetrics:
    def __init__(self, registry: MetricsRegistry, sessions: Callable[[], int]) -> None:
        self.http_responses = registry.counter(
            "signage_http_responses_total",
            "HTTP answers by status code (4xx and 5xx are the errors).",
            labels=("status",),
        )
        self.ws_closes: Counter = registry.counter(
            "signage_ws_closes_total",
            "Device WebSocket sessions closed by the server, by close code.",
            labels=("code",),
        )
        self.ws_refused = registry.counter(
            "signage_ws_refused_total",
            "Device WebSocket upgrades refused before authentication (rate limit).",
        )
        registry.callback(
            "signage_device_sessions",
            "Device sessions live on this node.",
            lambda: [((), float(sessions()))],
        )
