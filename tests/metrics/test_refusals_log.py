"""Refusals leave a trace (issue 14, L4): 403s, a tenant user's 404 on another tenant's
URL, and refused logins are WARNING lines on ``signage.security`` with the user, their
tenant, the route and the request id."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID, uuid4

import pytest
from quart import Quart

from actors import security_log
from actors.domain.principal import Principal
from actors.domain.rbac import Role
from tests.auth.conftest import CLIENT_IP, Caller, login, peer

pytestmark = pytest.mark.anyio


def refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == security_log.LOGGER]


async def test_a_403_is_a_warning_naming_user_tenant_route_and_request_id(
    app: Quart, viewer: Caller, tenant: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=security_log.LOGGER)
    response = await viewer.client.post(
        f"/api/v1/tenants/{tenant['id']}/emergencies",
        json={"message": "x", "severity": "critical", "target": {"all": True}},
        headers={**viewer.headers, "X-Request-ID": "probe-1"},
        scope_base=peer(viewer.ip),
    )
    assert response.status_code == 403
    (line,) = refusals(caplog)
    assert line.levelno == logging.WARNING
    fields = line.__dict__
    assert fields["event"] == "http.forbidden"
    assert fields["user"] == f"user:{viewer.user_id}"
    assert fields["tenant"] == tenant["id"]
    assert fields["route"] == "/api/v1/tenants/<uuid:tenant_id>/emergencies"
    assert fields["request_id"] == "probe-1"
    assert fields["client"] == CLIENT_IP


async def test_a_tenant_users_404_on_another_tenants_url_is_a_cross_tenant_warning(
    app: Quart,
    manager: Caller,
    tenant: dict[str, Any],
    other_tenant: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=security_log.LOGGER)
    response = await manager.get(f"/api/v1/tenants/{other_tenant['id']}/devices/{uuid4()}")
    assert response.status_code == 404
    (line,) = refusals(caplog)
    assert line.levelno == logging.WARNING
    fields = line.__dict__
    assert fields["event"] == "http.cross_tenant"
    assert fields["user"] == f"user:{manager.user_id}"
    assert (fields["tenant"], fields["target_tenant"]) == (tenant["id"], other_tenant["id"])
    assert fields["route"] == "/api/v1/tenants/<uuid:tenant_id>/devices/<uuid:device_id>"
    assert fields["request_id"]


async def test_a_404_in_ones_own_tenant_is_not_a_refusal(
    app: Quart, manager: Caller, tenant: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=security_log.LOGGER)
    response = await manager.get(f"/api/v1/tenants/{tenant['id']}/devices/{uuid4()}")
    assert response.status_code == 404
    assert refusals(caplog) == []


async def test_a_refused_login_is_a_warning_without_the_password(
    app: Quart, manager: Caller, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=security_log.LOGGER)
    response = await login(app.test_client(), manager.email, "not the password")
    assert response.status_code == 401
    (line,) = refusals(caplog)
    assert line.levelno == logging.WARNING
    assert line.__dict__["event"] == "auth.login_refused"
    assert line.__dict__["client"] == CLIENT_IP
    assert line.__dict__["route"] == "/api/v1/auth/login"
    assert "not the password" not in repr(line.__dict__)


def test_a_use_case_can_log_a_refusal_of_its_own(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=security_log.LOGGER)
    who = Principal(
        user_id=uuid4(),
        tenant_id=uuid4(),
        email="dm@example.test",
        roles=frozenset({Role.DEVICE_MANAGER}),
        request_id="rid-7",
        source_ip="192.0.2.1",
    )
    target = UUID(int=7)
    security_log.principal_refused(who, "device.claim_failed", target, "unknown or expired code")
    (line,) = refusals(caplog)
    assert line.levelno == logging.WARNING
    fields = line.__dict__
    assert fields["event"] == "device.claim_failed"
    assert fields["user"] == f"user:{who.user_id}"
    assert (fields["tenant"], fields["target_tenant"]) == (str(who.tenant_id), str(target))
    assert (fields["request_id"], fields["client"]) == ("rid-7", "192.0.2.1")
    assert fields["reason"] == "unknown or expired code"
    assert "unknown or expired code" in line.getMessage()
