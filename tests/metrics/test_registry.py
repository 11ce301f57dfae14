"""The metrics registry on prometheus-client: names, labels, children, collectors."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from actors.metrics import CONTENT_TYPE, MetricsRegistry


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
        'app_requests_total{code="200",route="/ready"} 3.0\n'
        "# HELP app_sessions Open sessions.\n"
        "# TYPE app_sessions gauge\n"
        "app_sessions 2.0\n"
    )
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"


def test_counters_have_no_created_series() -> None:
    registry = MetricsRegistry()
    registry.counter("c_total", "C.").inc()
    registry.histogram("h_seconds", "H.").observe(0.1)
    assert "_created" not in registry.render()


def test_a_bound_child_is_the_same_series_as_the_keyword_labels() -> None:
    registry = MetricsRegistry()
    frames = registry.counter("frames_total", "Frames.", labels=("moment",))
    fanout = frames.labels(moment="fanout")
    fanout.inc(10)
    frames.inc(5, moment="fanout")
    assert frames.value(moment="fanout") == 15
    assert frames.labels(moment="fanout") is fanout


def test_label_values_and_help_are_escaped() -> None:
    registry = MetricsRegistry()
    counter = registry.counter("x_total", 'Back\\slash and\nnewline "quoted".', labels=("v",))
    counter.inc(v='a"b\\c\nd')
    text = registry.render()
    assert '# HELP x_total Back\\\\slash and\\nnewline "quoted".' in text
    assert 'x_total{v="a\\"b\\\\c\\nd"} 1.0' in text
    (family,) = text_string_to_metric_families(text)
    assert family.samples[0].labels == {"v": 'a"b\\c\nd'}


def test_histograms_count_cumulatively_into_fixed_buckets() -> None:
    registry = MetricsRegistry()
    latency = registry.histogram("op_seconds", "Op latency.", buckets=(0.1, 1.0), labels=("op",))
    for value in (0.05, 0.1, 0.5, 3.0):
        latency.observe(value, op="fanout")
    lines = registry.render().splitlines()
    assert 'op_seconds_bucket{le="0.1",op="fanout"} 2.0' in lines
    assert 'op_seconds_bucket{le="1.0",op="fanout"} 3.0' in lines
    assert 'op_seconds_bucket{le="+Inf",op="fanout"} 4.0' in lines
    assert 'op_seconds_sum{op="fanout"} 3.65' in lines
    assert 'op_seconds_count{op="fanout"} 4.0' in lines
    assert latency.count(op="fanout") == 4


def test_callbacks_are_evaluated_at_scrape_time() -> None:
    registry = MetricsRegistry()
    depth = {"device": 3}
    registry.callback(
        "depth", "Depth.", lambda: [((k,), v) for k, v in depth.items()], labels=("kind",)
    )
    registry.callback("seen_total", "Seen.", lambda: [((), 4.0)], kind="counter")
    assert 'depth{kind="device"} 3.0' in registry.render()
    depth["device"] = 7
    assert registry.sample("depth", kind="device") == 7
    assert "# TYPE seen_total counter" in registry.render()
    assert registry.sample("seen_total") == 4


def test_info_is_one_constant_series() -> None:
    registry = MetricsRegistry()
    registry.info("app_build_info", "Build.", {"version": "1.2.3"})
    assert registry.sample("app_build_info", version="1.2.3") == 1


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


def test_two_registries_in_one_process_are_independent() -> None:
    one, two = MetricsRegistry(), MetricsRegistry()
    one.counter("same_total", "Same.").inc()
    two.counter("same_total", "Same.")
    assert one.sample("same_total") == 1
    assert two.sample("same_total") == 0


def test_misuse_is_refused() -> None:
    registry = MetricsRegistry()
    counter = registry.counter("c_total", "C.", labels=("a",))
    with pytest.raises(ValueError, match="already registered"):
        registry.gauge("c_total", "again")
    with pytest.raises(ValueError, match="already registered"):
        registry.callback("c_total", "again", list)
    with pytest.raises(ValueError, match="invalid metric name"):
        registry.counter("bad-name_total", "x")
    with pytest.raises(ValueError, match="end in _total"):
        registry.counter("requests", "x")
    with pytest.raises(ValueError, match="invalid label"):
        registry.counter("d_total", "x", labels=("le",))
    with pytest.raises(ValueError, match="cannot decrease"):
        counter.inc(-1, a="x")
    with pytest.raises(ValueError, match="missing label"):
        counter.inc(b="x")
    with pytest.raises(ValueError, match="takes labels"):
        counter.inc()
    with pytest.raises(ValueError, match="increasing"):
        registry.histogram("h", "x", buckets=(1.0, 0.5))
