"""/api/v1/tenants/{tid}/webhooks: endpoints created by a tenant_admin with the signing
secret shown once, listed without it, deleted (pending deliveries cancelled), audited;
URL and destination rules, the per-tenant limit, RBAC and cross-tenant cases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest

from actors.domain.rbac import Role
from actors.settings import Settings
from tests.auth.conftest import FAST_HASHING, Caller
from tests.conftest import make_settings
from tests.webhooks.conftest import WEBHOOK_TIMERS, create_webhook, webhooks_of

pytestmark = pytest.mark.anyio

NewUser = Callable[..., Awaitable[Caller]]
URL = "http://127.0.0.1:9/hooks"


@pytest.fixture
def settings(db_clean: str) -> Settings:
    return make_settings(db_clean, **FAST_HASHING, **WEBHOOK_TIMERS, webhook_max_per_tenant=2)


async def test_a_tenant_admin_creates_one_and_its_secret_is_shown_once(
    tenant: dict[str, Any], tenant_admin: Caller, settings: Settings
) -> None:
    body = await create_webhook(
        tenant_admin, tenant, URL, "emergency.triggered", "device.offline", "emergency.triggered"
    )
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["device.offline", "emergency.triggered"]
    assert body["created_by"] == f"user:{tenant_admin.user_id}"
    listed = await (await tenant_admin.get(webhooks_of(tenant))).get_json()
    assert [w["id"] for w in listed["items"]] == [body["id"]]
    assert "secret" not in listed["items"][0]
    assert settings.database.url is not None
    with psycopg.connect(settings.database.url) as conn:
        audit = conn.execute(
            "SELECT action, details::text FROM audit_log WHERE target = %s",
            (f"webhook:{body['id']}",),
        ).fetchall()
    assert [a[0] for a in audit] == ["webhook.create"]
    assert body["secret"] not in audit[0][1]


async def test_deleting_cancels_its_pending_deliveries_and_is_audited(
    tenant: dict[str, Any], tenant_admin: Caller, settings: Settings
) -> None:
    hook = await create_webhook(tenant_admin, tenant, URL, "content.pending_approval")
    assert settings.database.url is not None
    with psycopg.connect(settings.database.url) as conn:
        conn.execute(
            "INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, event_type, body,"
            " next_attempt_at) VALUES (%s, %s, gen_random_uuid(), 'content.pending_approval',"
            " '{}', now() + interval '1 hour')",
            (tenant["id"], hook["id"]),
        )
    gone = await tenant_admin.client.delete(
        f"{webhooks_of(tenant)}/{hook['id']}", headers=tenant_admin.headers
    )
    assert gone.status_code == 204
    assert (await (await tenant_admin.get(webhooks_of(tenant))).get_json())["items"] == []
    log = await tenant_admin.get(f"{webhooks_of(tenant)}/{hook['id']}/deliveries")
    assert log.status_code == 404
    again = await tenant_admin.client.delete(
        f"{webhooks_of(tenant)}/{hook['id']}", headers=tenant_admin.headers
    )
    assert again.status_code == 404
    with psycopg.connect(settings.database.url) as conn:
        states = conn.execute("SELECT state FROM webhook_deliveries").fetchall()
        audit = conn.execute(
            "SELECT details::jsonb->>'cancelled_deliveries' FROM audit_log"
            " WHERE action = 'webhook.delete'"
        ).fetchall()
    assert states == [("cancelled",)]
    assert audit == [("1",)]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://10.0.0.5/hooks", "non-public"),
        ("https://169.254.169.254/latest", "non-public"),
        ("ftp://example.com/x", "http"),
        ("https://user:pw@example.com/x", "credentials"),
    ],
)
async def test_a_url_the_policy_refuses_is_422_naming_url(
    tenant: dict[str, Any], tenant_admin: Caller, url: str, why: str
) -> None:
    response = await tenant_admin.post(
        webhooks_of(tenant), {"url": url, "events": ["device.offline"]}
    )
    body = await response.get_json()
    assert response.status_code == 422, body
    assert why in body["detail"]


async def test_unknown_events_and_fields_are_422(
    tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    for payload in (
        {"url": URL, "events": ["device.exploded"]},
        {"url": URL, "events": []},
        {"url": URL, "events": ["device.offline"], "secret": "mine"},
    ):
        response = await tenant_admin.post(webhooks_of(tenant), payload)
        assert response.status_code == 422, payload


async def test_a_tenant_has_at_most_its_limit_of_endpoints(
    tenant: dict[str, Any], tenant_admin: Caller
) -> None:
    await create_webhook(tenant_admin, tenant, URL, "device.offline")
    await create_webhook(tenant_admin, tenant, URL, "device.online")
    third = await tenant_admin.post(webhooks_of(tenant), {"url": URL, "events": ["device.online"]})
    assert third.status_code == 409


async def test_only_tenant_admins_manage_them_and_other_tenants_see_404(
    tenant: dict[str, Any],
    other_tenant: dict[str, Any],
    tenant_admin: Caller,
    new_user: NewUser,
) -> None:
    hook = await create_webhook(tenant_admin, tenant, URL, "device.offline")
    operator = await new_user(tenant["id"], Role.EMERGENCY_OPERATOR)
    assert (await operator.get(webhooks_of(tenant))).status_code == 403
    refused = await operator.post(webhooks_of(tenant), {"url": URL, "events": ["device.offline"]})
    assert refused.status_code == 403
    stranger = await new_user(other_tenant["id"], Role.TENANT_ADMIN)
    assert (await stranger.get(webhooks_of(tenant))).status_code == 404
    log = await stranger.get(f"{webhooks_of(tenant)}/{hook['id']}/deliveries")
    assert log.status_code == 404
    theirs = await stranger.get(f"{webhooks_of(other_tenant)}/{hook['id']}/deliveries")
    assert theirs.status_code == 404
