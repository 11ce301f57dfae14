"""compose.yaml parses and names what operators are promised: postgres, redis, two nodes, proxy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent


def _compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))
    return doc


def test_compose_names_database_relay_two_nodes_and_proxy() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "node1", "node2", "proxy"} <= services.keys()


def test_nodes_share_one_database_and_one_relay_with_distinct_ids() -> None:
    services = _compose()["services"]
    nodes = [services["node1"]["environment"], services["node2"]["environment"]]
    assert nodes[0]["DATABASE_URL"] == nodes[1]["DATABASE_URL"]
    assert nodes[0]["REDIS_URL"] == nodes[1]["REDIS_URL"]
    assert nodes[0]["NODE_ID"] != nodes[1]["NODE_ID"]
    assert all(env["ENV"] == "prod" for env in nodes)


def test_proxy_config_forwards_websocket_upgrades_to_both_nodes() -> None:
    conf = (REPO / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    assert "server node1:8000" in conf
    assert "server node2:8000" in conf
    assert "proxy_set_header Upgrade $http_upgrade" in conf
