"""A small Prometheus registry: counters, gauges, histograms, scrape-time callbacks.

No dependency and no module globals: the container owns one :class:`MetricsRegistry`
and hands it to whatever records metrics; ``GET /metrics`` renders it in the text
exposition format, version 0.0.4.

Labels are declared with the family and given as keyword arguments; each distinct set
of label values is a time series that lives as long as the registry does, so label
values must come from a small, fixed set (an actor *kind*, never an actor *id*).
Values that are cheap to compute at scrape time but costly to keep current (mailbox
depths of 10,000 actors) belong in a :meth:`MetricsRegistry.callback`, not in a gauge
updated on every message.

Everything here is synchronous and takes no lock: it is meant for one event loop thread.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

#: The content type ``GET /metrics`` answers with.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

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

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

Kind = Literal["counter", "gauge", "histogram"]
LabelValues = tuple[str, ...]
#: What a callback yields: one (label values, value) pair per series.
Sample = tuple[LabelValues, float]


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _label_text(names: Sequence[str], values: LabelValues, extra: str = "") -> str:
    pairs = [f'{n}="{_escape_label(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


class _Family:
    """One metric name with its HELP, TYPE and declared label names."""

    kind: Kind

    def __init__(self, name: str, help: str, labels: Sequence[str]) -> None:
        if not _NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        for label in labels:
            if not _LABEL.match(label) or label.startswith("__") or label == "le":
                raise ValueError(f"invalid label name {label!r} for {name}")
        if len(set(labels)) != len(labels):
            raise ValueError(f"duplicate label names for {name}")
        self.name = name
        self.help = help
        self.label_names = tuple(labels)

    def _key(self, labels: dict[str, str]) -> LabelValues:
        if len(labels) != len(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {tuple(labels)}")
        try:
            return tuple(str(labels[n]) for n in self.label_names)
        except KeyError as exc:
            raise ValueError(f"{self.name}: missing label {exc.args[0]!r}") from None

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {_escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]

    def render(self) -> list[str]:
        raise NotImplementedError


class Counter(_Family):
    """A value that only goes up (name it ``..._total``)."""

    kind: Kind = "counter"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help, labels)
        self._values: dict[LabelValues, float] = {} if labels else {(): 0.0}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` (>= 0) to the series named by ``labels``.

        :raises ValueError: if ``amount`` is negative or the labels do not match.
        """
        if amount < 0:
            raise ValueError(f"{self.name}: a counter cannot decrease")
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

    def render(self) -> list[str]:
        return [
            f"{self.name}{_label_text(self.label_names, k)} {_format_value(v)}"
            for k, v in self._values.items()
        ]


class Gauge(_Family):
    """A value that goes up and down, set when it changes."""

    kind: Kind = "gauge"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help, labels)
        self._values: dict[LabelValues, float] = {} if labels else {(): 0.0}

    def set(self, value: float, **labels: str) -> None:
        self._values[self._key(labels)] = float(value)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + amount

    def dec(self, amount: float = 1.0, **labels: str) -> None:
        self.inc(-amount, **labels)

    def value(self, **labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

    def render(self) -> list[str]:
        return [
            f"{self.name}{_label_text(self.label_names, k)} {_format_value(v)}"
            for k, v in self._values.items()
        ]


class _Buckets:
    __slots__ = ("count", "counts", "sum")

    def __init__(self, size: int) -> None:
        self.counts = [0] * size
        self.sum = 0.0
        self.count = 0


class Histogram(_Family):
    """Observations counted into fixed buckets (upper bounds, seconds or bytes).

    ``observe`` costs one binary search over the bounds; there is no locking and no
    allocation after a series' first observation.
    """

    kind: Kind = "histogram"

    def __init__(
        self,
        name: str,
        help: str,
        buckets: Sequence[float] = LATENCY_BUCKETS,
        labels: Sequence[str] = (),
    ) -> None:
        super().__init__(name, help, labels)
        bounds = [float(b) for b in buckets if not math.isinf(b)]
        if not bounds or bounds != sorted(set(bounds)):
            raise ValueError(f"{name}: buckets must be increasing and non-empty")
        self.bounds = tuple(bounds)
        self._series: dict[LabelValues, _Buckets] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = self._key(labels)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Buckets(len(self.bounds) + 1)
        series.counts[bisect_left(self.bounds, value)] += 1
        series.sum += value
        series.count += 1

    def count(self, **labels: str) -> int:
        series = self._series.get(self._key(labels))
        return 0 if series is None else series.count

    def render(self) -> list[str]:
        lines: list[str] = []
        for key, series in self._series.items():
            cumulative = 0
            for bound, n in zip((*self.bounds, math.inf), series.counts, strict=True):
                cumulative += n
                le = f'le="{_format_value(bound)}"'
                lines.append(
                    f"{self.name}_bucket{_label_text(self.label_names, key, le)} {cumulative}"
                )
            labels = _label_text(self.label_names, key)
            lines.append(f"{self.name}_sum{labels} {_format_value(series.sum)}")
            lines.append(f"{self.name}_count{labels} {series.count}")
        return lines


class _Callback(_Family):
    """A counter or gauge whose series are computed by a function at scrape time."""

    def __init__(
        self,
        name: str,
        help: str,
        kind: Kind,
        labels: Sequence[str],
        collect: Callable[[], Iterable[Sample]],
    ) -> None:
        super().__init__(name, help, labels)
        self.kind = kind
        self._collect = collect

    def render(self) -> list[str]:
        lines = []
        for values, value in self._collect():
            key = tuple(str(v) for v in values)
            if len(key) != len(self.label_names):
                raise ValueError(f"{self.name}: callback gave {key}, labels {self.label_names}")
            lines.append(f"{self.name}{_label_text(self.label_names, key)} {_format_value(value)}")
        return lines


class MetricsRegistry:
    """Every metric family of one process, rendered together for ``GET /metrics``."""

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}

    def _add[F: _Family](self, family: F) -> F:
        if family.name in self._families:
            raise ValueError(f"metric {family.name!r} is already registered")
        self._families[family.name] = family
        return family

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        """Register a counter. :raises ValueError: if ``name`` is taken or invalid."""
        return self._add(Counter(name, help, labels))

    def gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> Gauge:
        """Register a gauge. :raises ValueError: if ``name`` is taken or invalid."""
        return self._add(Gauge(name, help, labels))

    def histogram(
        self,
        name: str,
        help: str,
        buckets: Sequence[float] = LATENCY_BUCKETS,
        labels: Sequence[str] = (),
    ) -> Histogram:
        """Register a histogram. :raises ValueError: if ``name`` is taken or invalid."""
        return self._add(Histogram(name, help, buckets, labels))

    def callback(
        self,
        name: str,
        help: str,
        collect: Callable[[], Iterable[Sample]],
        *,
        kind: Literal["counter", "gauge"] = "gauge",
        labels: Sequence[str] = (),
    ) -> None:
        """Register a family computed by ``collect()`` at each scrape.

        ``collect`` runs inside the scrape request: keep it O(number of series) plus one
        pass over whatever it summarises, and never let it block.

        :raises ValueError: if ``name`` is taken or invalid.
        """
        self._add(_Callback(name, help, kind, labels, collect))

    def render(self) -> str:
        """The text exposition (format 0.0.4) of every registered family."""
        lines: list[str] = []
        for family in self._families.values():
            lines.extend(family.header())
            lines.extend(family.render())
        return "\n".join(lines) + "\n"
