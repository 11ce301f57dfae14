"""The shipped alert rules and Grafana dashboard name only metrics a node exposes.

A real node is scraped after some traffic (HTTP, an emergency acknowledged by a screen),
and every PromQL expression in ``deploy/prometheus/alerts.yml`` and
``deploy/grafana/signage.json`` is reduced to the metric names it selects: each must be
in the scrape, and every ``le`` a query pins must be a bucket the scrape shows (a query
for ``le="2"`` when the exposition says ``le="2.0"`` silently matches nothing).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from quart import Quart

from tests.auth.conftest import Caller
from tests.emergencies.conftest import Connect, trigger
from tests.metrics.conftest import Scrape, scrape
from tests.waiting import eventually

pytestmark = pytest.mark.anyio

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "signage.json"
#: Series Prometheus itself adds to every target.
PROMETHEUS_OWN = frozenset({"up"})

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:ms|s|m|h|d|w|y)?(?![\w.])")
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "Inf", "NaN"})
_LE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)\{[^}]*\ble="([^"]*)"')
_LABEL_VALUES = re.compile(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)")


def grafana_to_promql(expr: str) -> str:
    """A dashboard query as Prometheus would get it (Grafana's variables filled in)."""
    return expr.replace("$__rate_interval", "5m").replace("$instance", ".*")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, labels, numbers
    and durations left out)."""
    if match := _LABEL_VALUES.match(expr.strip()):
        return {match.group(1)}
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    names = set()
    for found in _IDENT.finditer(text):
        rest = text[found.end() :].lstrip()
        if rest.startswith("(") or found.group() in _KEYWORDS:
            continue  # a function call or an operator
        names.add(found.group())
    return names


def alert_expressions() -> Iterator[tuple[str, str]]:
    rules = yaml.safe_load(ALERTS.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            yield rule["alert"], rule["expr"]


def dashboard_expressions() -> Iterator[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], grafana_to_promql(target["expr"])
    for variable in board["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            yield f"variable {variable['name']}", grafana_to_promql(query["query"])


EXPRESSIONS = [*alert_expressions(), *dashboard_expressions()]


def test_the_name_extraction_sees_metrics_and_nothing_else() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, instance) (rate(x_seconds_bucket{le="2.0",'
        'job=~"a|b"}[5m]))) / on (instance) y_total offset 10m > 1e3 and z == bool 0'
    )
    assert metric_names(expr) == {"x_seconds_bucket", "y_total", "z"}
    assert metric_names('label_values(w_info{job="s"}, instance)') == {"w_info"}


@pytest.fixture
async def busy_node(
    app: Quart, approved: Any, play: Connect, operator: Caller, tenant: dict[str, Any]
) -> Scrape:
    """The node's scrape once every family has samples worth querying: HTTP answers and an
    emergency acknowledged by a screen."""
    screen = await approved()
    async with play(screen) as player:
        fire = await trigger(operator, tenant)
        assert (await player.emergency())["id"] == fire["id"]
        await player.ack(fire["id"])
        count = "signage_emergency_ack_latency_seconds_count"
        scraped: list[Scrape] = []

        async def acked() -> bool:
            scraped.append(await scrape(app))
            return scraped[-1].value(count) == 1

        await eventually(acked, timeout_s=5, every_s=0.05)  # acks are written in batches
    return scraped[-1]


async def test_every_expression_names_metrics_the_node_exposes(busy_node: Scrape) -> None:
    exposed = busy_node.names() | PROMETHEUS_OWN
    problems: list[str] = []
    for where, expr in EXPRESSIONS:
        names = metric_names(expr)
        if not names:
            problems.append(f"{where}: no metric in {expr!r}")
        if missing := sorted(names - exposed):
            problems.append(f"{where}: {missing} are not exposed")
        for metric, le in _LE.findall(expr):
            buckets = {labels["le"] for labels in busy_node.series(metric)}
            if le not in buckets:
                problems.append(f"{where}: {metric} has no bucket le={le!r} ({sorted(buckets)})")
    assert len(EXPRESSIONS) > 40
    assert problems == []


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_rules_and_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    result = subprocess.run(
        ["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Dashboard queries, checked as recording rules (label_values is Grafana's, not PromQL).
    queries = [e for _, e in dashboard_expressions() if not _LABEL_VALUES.match(e.strip())]
    recording = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:q{i}", "expr": e} for i, e in enumerate(queries)],
            }
        ]
    }
    path = tmp_path / "dashboard.yml"
    path.write_text(yaml.safe_dump(recording))
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
