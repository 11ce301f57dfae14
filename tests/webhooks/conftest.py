"""Webhook fixtures: deliveries allowed to loopback over http (the receiver runs in the
test), fast retries, and the device and admin fixtures they reuse."""

from __future__ import annotations

from typing import Any

import pytest

from actors.settings import Settings
from tests.auth.conftest import (  # noqa: F401 - fixtures re-exported for these tests
    FAST_HASHING,
    Caller,
    admin,
    new_tenant,
    new_user,
    other_tenant,
    tenant_admin,
)
from tests.conftest import make_settings
from tests.devices.conftest import (  # noqa: F401 - fixtures re-exported for these tests
    Screen,
    app,
    approved,
    manager,
    register,
    tenant,
    ws_url,
)
from tests.emergencies.conftest import EMERGENCY_TIMERS, operator, play  # noqa: F401

#: Loopback allowed (the receiver), plain http, retries within a fraction of a second.
WEBHOOK_TIMERS: dict[str, Any] = {
    "webhook_allow_http": True,
    "webhook_allowed_networks": "127.0.0.1/32",
    "webhook_backoff_base_s": 0.1,
    "webhook_backoff_max_s": 0.4,
    "webhook_poll_s": 0.05,
    "webhook_timeout_s": 2.0,
    "webhook_sweep_every_s": 0.2,
    # Offline after half a second without a session; last-seen times written 5x a second.
    "webhook_offline_after_s": 0.5,
    "last_seen_flush_s": 0.2,
    "webhook_delivery_check_s": 1.0,
}


@pytest.fixture
def settings(db_clean: str) -> Settings:
    return make_settings(db_clean, **FAST_HASHING, **EMERGENCY_TIMERS, **WEBHOOK_TIMERS)


def webhooks_of(tenant: dict[str, Any]) -> str:
    return f"/api/v1/tenants/{tenant['id']}/webhooks"


async def create_webhook(
    caller: Caller, tenant: dict[str, Any], url: str, *events: str, **extra: Any
) -> dict[str, Any]:
    response = await caller.post(webhooks_of(tenant), {"url": url, "events": list(events), **extra})
    body: dict[str, Any] = await response.get_json()
    assert response.status_code == 201, body
    return body
