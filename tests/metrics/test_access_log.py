"""The access log: one ``signage.access`` line per HTTP request, with the route template,
status, duration, request id, principal and client address."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from quart import Quart

from edge.access_log import ACCESS_LOGGER
from edge.logs import JsonFormatter, RequestIdFilter, request_id_var, route_var
from tests.auth.conftest import CLIENT_IP, Caller, peer
from tests.devices.conftest import Screen

pytestmark = pytest.mark.anyio


def access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == ACCESS_LOGGER]


async def test_each_request_is_one_line_with_route_status_duration_and_principal(
    app: Quart, manager: Caller, tenant: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    response = await manager.client.get(
        f"/api/v1/tenants/{tenant['id']}/devices",
        headers={**manager.headers, "X-Request-ID": "req-42"},
        scope_base=peer(manager.ip),
    )
    assert response.status_code == 200
    (line,) = access_lines(caplog)
    assert line.levelno == logging.INFO
    fields: dict[str, Any] = line.__dict__
    assert fields["method"] == "GET"
    assert fields["route"] == "/api/v1/tenants/<uuid:tenant_id>/devices"
    assert fields["status"] == 200
    assert isinstance(fields["duration_ms"], float)
    assert fields["duration_ms"] >= 0
    assert fields["request_id"] == "req-42"
    assert fields["principal"] == f"user:{manager.user_id}"
    assert fields["client"] == CLIENT_IP
    assert tenant["id"] not in line.getMessage()  # the template, not the path


async def test_anonymous_and_unrouted_requests_are_logged_with_nulls(
    app: Quart, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    client = app.test_client()
    await client.get("/health", scope_base=peer("198.51.100.9"))
    await client.get("/no/such/page?token=secret", scope_base=peer("198.51.100.9"))
    health, unrouted = access_lines(caplog)
    assert (health.__dict__["route"], health.__dict__["principal"]) == ("/health", None)
    assert unrouted.__dict__["route"] is None
    assert unrouted.__dict__["status"] == 404
    assert unrouted.__dict__["client"] == "198.51.100.9"
    assert "secret" not in unrouted.getMessage()


async def test_a_screen_is_the_principal_of_its_own_requests(
    app: Quart, approved: Any, caplog: pytest.LogCaptureFixture
) -> None:
    screen: Screen = await approved()
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    response = await app.test_client().get("/api/v1/devices/self", headers=screen.auth)
    assert response.status_code == 200
    (line,) = access_lines(caplog)
    assert line.__dict__["principal"] == f"device:{screen.device_id}"


async def test_an_error_answer_is_logged_with_its_status(
    app: Quart, manager: Caller, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    response = await manager.post("/api/v1/auth/login", {"email": 1})
    assert response.status_code == 422
    (line,) = access_lines(caplog)
    assert line.__dict__["status"] == 422
    assert line.__dict__["route"] == "/api/v1/auth/login"


def test_the_json_line_carries_every_field_and_the_route() -> None:
    record = logging.LogRecord("signage.access", logging.INFO, __file__, 1, "GET / 200", None, None)
    record.__dict__.update(method="GET", status=200, duration_ms=1.5, principal=None)
    tokens = request_id_var.set("rid-1"), route_var.set("/health")
    try:
        assert RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(tokens[0])
        route_var.reset(tokens[1])
    entry = json.loads(JsonFormatter("node-a").format(record))
    assert entry["logger"] == "signage.access"
    assert entry["request_id"] == "rid-1"
    assert entry["route"] == "/health"
    assert entry["node"] == "node-a"
    assert (entry["method"], entry["status"], entry["duration_ms"]) == ("GET", 200, 1.5)
    assert entry["principal"] is None
