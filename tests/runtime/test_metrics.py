"""The Prometheus registry: text exposition 0.0.4, labels, histograms, callbacks."""

from __future__ import annotations

import math

import pytest

from actors.metrics import MetricsRegistry


def test_counters_and_gauges_render_with_help_type_and_labels() -> None:
    registry = MetricsRegistry()
    requests = registry.counter("app_requests_total", "Requests.", labels=("route", "code"))
    sessions = registry.gauge("app_sessions", "Open sessions.")
    requests.inc(route="/ready", code="200")
    requests.inc(2, route="/ready", code="200")
    sessions.set(3)
    sessions.dec()
    assert registry.render() == (
        "# HELP app_requests_total Requests.\n"
        "# TYPE app_requests_total counter\n"
        'app_requests_total{route="/ready",code="200"} 3\n'
        "# HELP app_sessions Open sessions.\n"
        "# TYPE app_sessions gauge\n"
        "app_sessions 2\n"
    )


def test_label_values_and_help_are_escaped() -> None:
    registry = MetricsRegistry()
    counter = registry.counter("x_total", 'Back\\slash and\nnewline "quoted".', labels=("v",))
    counter.inc(v='a"b\\c\nd')
    text = registry.render()
    assert '# HELP x_total Back\\\\slash and\\nnewline "quoted".' in text
    assert 'x_total{v="a\\"b\\\\c\\nd"} 1' in text


def test_histograms_count_cumulatively_into_fixed_buckets() -> None:
    registry = MetricsRegistry()
    latency = registry.histogram("op_seconds", "Op latency.", buckets=(0.1, 1.0), labels=("op",))
    for value in (0.05, 0.1, 0.5, 3.0):
        latency.observe(value, op="fanout")
    lines = registry.render().splitlines()
    assert 'op_seconds_bucket{op="fanout",le="0.1"} 2' in lines
    assert 'op_seconds_bucket{op="fanout",le="1"} 3' in lines
    assert 'op_seconds_bucket{op="fanout",le="+Inf"} 4' in lines
    assert 'op_seconds_sum{op="fanout"} 3.65' in lines
    assert 'op_seconds_count{op="fanout"} 4' in lines
    assert latency.count(op="fanout") == 4


def test_callbacks_are_evaluated_at_scrape_time() -> None:
    registry = MetricsRegistry()
    depth = {"device": 3}
    registry.callback(
        "depth", "Depth.", lambda: [((k,), v) for k, v in depth.items()], labels=("kind",)
    )
    assert 'depth{kind="device"} 3' in registry.render()
    depth["device"] = 7
    assert 'depth{kind="device"} 7' in registry.render()


def test_special_float_values_use_prometheus_spelling() -> None:
    registry = MetricsRegistry()
    gauge = registry.gauge("g", "G.", labels=("k",))
    gauge.set(math.inf, k="a")
    gauge.set(math.nan, k="b")
    gauge.set(0.25, k="c")
    text = registry.render()
    assert 'g{k="a"} +Inf' in text
    assert 'g{k="b"} NaN' in text
    assert 'g{k="c"} 0.25' in text


def test_misuse_is_refused() -> None:
    registry = MetricsRegistry()
    counter = registry.counter("c_total", "C.", labels=("a",))
    with pytest.raises(ValueError, match="already registered"):
        registry.gauge("c_total", "again")
    with pytest.raises(ValueError, match="invalid metric name"):
        registry.counter("bad-name", "x")
    with pytest.raises(ValueError, match="invalid label"):
        registry.counter("d_total", "x", labels=("le",))
    with pytest.raises(ValueError, match="cannot decrease"):
        counter.inc(-1, a="x")
    with pytest.raises(ValueError, match="missing label"):
        counter.inc(b="x")
    with pytest.raises(ValueError, match="increasing"):
        registry.histogram("h", "x", buckets=(1.0, 0.5))
