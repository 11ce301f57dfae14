"""The node's Prometheus metrics, on ``prometheus-client``.

The container owns one :class:`MetricsRegistry` per app and hands it to whatever records
metrics; ``GET /metrics`` renders it in the text exposition format, version 0.0.4. Each
registry wraps a :class:`prometheus_client.CollectorRegistry` of its own — never the
library's global ``REGISTRY`` — so several apps in one process (the test suite) never
collide, and a node exposes exactly what it registered.

Labels are declared with the family and given as keyword arguments
(``crashes.inc(kind="device")``): the child for those values is looked up in a dict, about
what the label lookup of a hand-written registry costs. A hot path binds its child once
(``frames = counter.labels(moment="fanout")`` at construction, ``frames.inc(n)`` per
event) and pays no lookup at all. Each distinct set of label values is a time series that
lives as long as the registry does, so label values must come from a small, fixed set (an
actor *kind*, never an actor *id*).

Values that are cheap to compute at scrape time but costly to keep current (mailbox
depths of 10,000 actors) belong in a :meth:`MetricsRegistry.callback` or a collector
(:meth:`MetricsRegistry.register`), not in a gauge updated on every message.

Counters carry no ``_created`` series (disabled for the process at import): nothing here
reads them, and they would double the size of a scrape.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal, Protocol

import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

#: The content type ``GET /metrics`` answers with.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

#: Latency buckets (seconds) for anything on the realtime path: 1 ms to 10 s.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

# The classic (pre-UTF-8) names: every Prometheus and every query language parses them.
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

Kind = Literal["counter", "gauge"]
LabelValues = tuple[str, ...]
#: What a callback yields: one (label values, value) pair per series.
Sample = tuple[LabelValues, float]


class CounterChild(Protocol):
    """One series of a counter (see :meth:`Counter.labels`)."""

    def inc(self, amount: float = 1) -> None: ...


class GaugeChild(Protocol):
    def set(self, value: float) -> None: ...
    def inc(self, amount: float = 1) -> None: ...
    def dec(self, amount: float = 1) -> None: ...


class HistogramChild(Protocol):
    def observe(self, amount: float) -> None: ...


def _check_names(name: str, labels: Sequence[str]) -> None:
    if not _NAME.match(name):
        raise ValueError(f"invalid metric name {name!r}")
    for label in labels:
        if not _LABEL.match(label) or label.startswith("__") or label == "le":
            raise ValueError(f"invalid label name {label!r} for {name}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"duplicate label names for {name}")


class _Family[M: MetricWrapperBase]:
    """A registered prometheus-client metric and a dict of its children by label values."""

    def __init__(self, name: str, metric: M, labels: Sequence[str]) -> None:
        self.name = name
        self.label_names = tuple(labels)
        self._metric = metric
        self._children: dict[LabelValues, M] = {}

    def _child(self, labels: Mapping[str, str]) -> M:
        if not self.label_names:
            if labels:
                raise ValueError(f"{self.name} takes no labels, got {tuple(labels)}")
            return self._metric
        if len(labels) != len(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {tuple(labels)}")
        try:
            key = tuple([str(labels[n]) for n in self.label_names])
        except KeyError as exc:
            raise ValueError(f"{self.name}: missing label {exc.args[0]!r}") from None
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._metric.labels(*key)
        return child

    def _sample(self, suffix: str, labels: Mapping[str, str]) -> float:
        wanted = {k: str(v) for k, v in labels.items()}
        for family in self._metric.collect():
            for sample in family.samples:
                if sample.name == self.name + suffix and sample.labels == wanted:
                    return float(sample.value)
        return 0.0


class Counter(_Family[prometheus_client.Counter]):
    """A value that only goes up (its name ends in ``_total``)."""

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` (>= 0) to the series named by ``labels``.

        :raises ValueError: if ``amount`` is negative or the labels do not match.
        """
        if amount < 0:
            raise ValueError(f"{self.name}: a counter cannot decrease")
        self._child(labels).inc(amount)

    def labels(self, **labels: str) -> CounterChild:
        """The series for ``labels``, to keep and increment without a lookup."""
        return self._child(labels)

    def value(self, **labels: str) -> float:
        """The series' current value (for tests and diagnostics: it walks the family)."""
        return self._sample("", labels)


class Gauge(_Family[prometheus_client.Gauge]):
    """A value that goes up and down, set when it changes."""

    def set(self, value: float, **labels: str) -> None:
        self._child(labels).set(value)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        self._child(labels).inc(amount)

    def dec(self, amount: float = 1.0, **labels: str) -> None:
        self._child(labels).dec(amount)

    def labels(self, **labels: str) -> GaugeChild:
        return self._child(labels)

    def value(self, **labels: str) -> float:
        return self._sample("", labels)


class Histogram(_Family[prometheus_client.Histogram]):
    """Observations counted into fixed buckets (upper bounds, seconds or bytes)."""

    def observe(self, value: float, **labels: str) -> None:
        self._child(labels).observe(value)

    def labels(self, **labels: str) -> HistogramChild:
        return self._child(labels)

    def count(self, **labels: str) -> int:
        """How many observations the series holds (walks the family: tests only)."""
        return int(self._sample("_count", labels))


class _Callback:
    """A collector of one counter or gauge family computed by a function at scrape time."""

    def __init__(
        self,
        name: str,
        help: str,
        kind: Kind,
        labels: Sequence[str],
        values: Callable[[], Iterable[Sample]],
    ) -> None:
        self._name = name
        self._help = help
        self._kind = kind
        self._labels = tuple(labels)
        self._values = values

    def _family(self) -> GaugeMetricFamily | CounterMetricFamily:
        if self._kind == "counter":
            return CounterMetricFamily(self._name, self._help, labels=self._labels)
        return GaugeMetricFamily(self._name, self._help, labels=self._labels)

    def describe(self) -> list[Metric]:
        return [self._family()]

    def collect(self) -> list[Metric]:
        family = self._family()
        for values, value in self._values():
            key = [str(v) for v in values]
            if len(key) != len(self._labels):
                raise ValueError(f"{self._name}: callback gave {key}, labels {self._labels}")
            family.add_metric(key, value)
        return [family]


class MetricsRegistry:
    """Every metric family of one app, rendered together for ``GET /metrics``."""

    def __init__(self) -> None:
        # auto_describe: a collector without describe() is collected once when registered,
        # so a name clash is refused at start-up, not discovered in a scrape.
        self.registry = CollectorRegistry(auto_describe=True)

    def register(self, collector: Collector, *, what: str = "") -> None:
        """Add a collector (its ``collect()`` runs inside every scrape: keep it O(series)
        plus one pass over what it summarises, and never let it block).

        :raises ValueError: if it yields a name that is already registered.
        """
        try:
            self.registry.register(collector)
        except ValueError as exc:
            names = getattr(exc, "duplicates", None) or {what}
            raise ValueError(f"metric {', '.join(sorted(names))!r} is already registered") from None

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        """Register a counter. :raises ValueError: if ``name`` is taken or invalid, or does
        not end in ``_total``."""
        _check_names(name, labels)
        if not name.endswith("_total"):
            raise ValueError(f"counter names end in _total: {name!r}")
        metric = prometheus_client.Counter(name, help, labels, registry=None)
        self.register(what=name, collector=metric)
        return Counter(name, metric, labels)

    def gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> Gauge:
        """Register a gauge. :raises ValueError: if ``name`` is taken or invalid."""
        _check_names(name, labels)
        metric = prometheus_client.Gauge(name, help, labels, registry=None)
        self.register(what=name, collector=metric)
        return Gauge(name, metric, labels)

    def histogram(
        self,
        name: str,
        help: str,
        buckets: Sequence[float] = LATENCY_BUCKETS,
        labels: Sequence[str] = (),
    ) -> Histogram:
        """Register a histogram (``buckets``: increasing upper bounds; ``+Inf`` is added).

        :raises ValueError: if ``name`` is taken or invalid, or the buckets are not
            increasing.
        """
        _check_names(name, labels)
        bounds = [float(b) for b in buckets if not math.isinf(b)]
        if not bounds or bounds != sorted(set(bounds)):
            raise ValueError(f"{name}: buckets must be increasing and non-empty")
        metric = prometheus_client.Histogram(name, help, labels, buckets=bounds, registry=None)
        self.register(what=name, collector=metric)
        return Histogram(name, metric, labels)

    def info(self, name: str, help: str, values: Mapping[str, str]) -> None:
        """Register a constant ``name{values...} 1`` series (``name`` ends in ``_info``).

        :raises ValueError: if ``name`` is taken or invalid.
        """
        _check_names(name, tuple(values))
        if not name.endswith("_info"):
            raise ValueError(f"info names end in _info: {name!r}")
        metric = prometheus_client.Info(name.removesuffix("_info"), help, registry=None)
        metric.info(dict(values))
        self.register(what=name, collector=metric)

    def callback(
        self,
        name: str,
        help: str,
        collect: Callable[[], Iterable[Sample]],
        *,
        kind: Kind = "gauge",
        labels: Sequence[str] = (),
    ) -> None:
        """Register a family computed by ``collect()`` at each scrape.

        ``collect`` runs inside the scrape request: keep it O(number of series) plus one
        pass over whatever it summarises, and never let it block.

        :raises ValueError: if ``name`` is taken or invalid.
        """
        _check_names(name, labels)
        if kind == "counter" and not name.endswith("_total"):
            raise ValueError(f"counter names end in _total: {name!r}")
        self.register(what=name, collector=_Callback(name, help, kind, labels, collect))

    def render(self) -> str:
        """The text exposition (format 0.0.4) of every registered family."""
        return generate_latest(self.registry).decode()

    def sample(self, name: str, **labels: str) -> float | None:
        """The value of one series as a scrape would show it, ``None`` if absent (tests
        and diagnostics: it collects everything)."""
        wanted = {k: str(v) for k, v in labels.items()}
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name == name and sample.labels == wanted:
                    return float(sample.value)
        return None
