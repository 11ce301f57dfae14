"""Deliveries from the outbox to a real receiver: written with the change, retried with
backoff while the receiver is down, delivered once it is up — signed, in order, each
event at least once — with the delivery log telling the story; and the sender's own
rules (no redirects followed, the destination policy) against a real socket."""

from __future__ import annotations

import json
import time
from typing import Any

import psycopg
import pytest

from actors.domain.webhooks import DestinationPolicy, verify
from actors.settings import Settings
from store.webhook_http import HttpWebhookSender
from tests.auth.conftest import Caller
from tests.devices.conftest import Screen
from tests.servers import free_port
from tests.waiting import eventually, polled
from tests.webhooks.conftest import create_webhook, webhooks_of
from tests.webhooks.receiver import Receiver, serving

pytestmark = pytest.mark.anyio

WAIT_S = 10.0


async def delivery_log(caller: Caller, tenant: dict[str, Any], hook: dict[str, Any]) -> Any:
    response = await caller.get(f"{webhooks_of(tenant)}/{hook['id']}/deliveries")
    body = await response.get_json()
    assert response.status_code == 200, body
    return body["items"]


async def log_when(
    caller: Caller, tenant: dict[str, Any], hook: dict[str, Any], done: Any
) -> list[dict[str, Any]]:
    return await polled(lambda: delivery_log(caller, tenant, hook), done, timeout_s=WAIT_S)


def bodies(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    """Every request received, checked: its signature verifies and its headers agree."""
    found = []
    for request in receiver.snapshot():
        assert request.path == "/hooks/signage"
        assert request.headers["content-type"] == "application/json"
        assert verify(secret, request.body, request.headers["signage-signature"], now=time.time())
        event = json.loads(request.body)
        assert request.headers["signage-event"] == event["type"]
        found.append(event)
    return found


async def test_events_wait_while_the_receiver_is_down_and_arrive_signed_in_order_once_up(
    tenant: dict[str, Any], tenant_admin: Caller, operator: Caller
) -> None:
    receiver = Receiver(free_port())
    hook = await create_webhook(
        tenant_admin, tenant, receiver.url, "emergency.triggered", "emergency.cleared"
    )
    base = f"/api/v1/tenants/{tenant['id']}/emergencies"
    started = []
    for n in range(3):
        response = await operator.post(
            base, {"message": f"Drill {n}", "severity": "warning", "target": {"all": True}}
        )
        assert response.status_code == 201
        started.append(await response.get_json())
    cleared = await operator.post(f"{base}/{started[-1]['id']}/clear")
    assert cleared.status_code == 200

    # Down: the head of the queue is retried, nothing behind it is tried.
    items = await log_when(tenant_admin, tenant, hook, lambda i: i[-1]["attempts"] >= 2)
    assert len(items) == 4
    assert items[-1]["state"] == "pending"
    assert items[-1]["last_status"] is None
    assert items[-1]["last_error"]
    assert all(i["attempts"] == 0 for i in items[:-1])

    with serving(receiver):
        await eventually(lambda: len(receiver.snapshot()) >= 4, timeout_s=WAIT_S)
        items = await log_when(
            tenant_admin, tenant, hook, lambda i: all(d["state"] == "delivered" for d in i)
        )
    events = bodies(receiver, hook["secret"])
    assert [e["type"] for e in events] == ["emergency.triggered"] * 3 + ["emergency.cleared"]
    assert [e["data"]["emergency_id"] for e in events] == [s["id"] for s in started] + [
        started[-1]["id"]
    ]
    assert events[-1]["data"]["end_reason"] == "cleared"
    assert len({e["id"] for e in events}) == 4
    assert all(e["tenant_id"] == tenant["id"] for e in events)
    assert {i["last_status"] for i in items} == {204}
    ids = [r.headers["signage-delivery"] for r in receiver.snapshot()]
    assert ids == [str(i["id"]) for i in reversed(items)]  # the log is newest first


async def test_a_5xx_is_retried_and_a_submission_for_approval_is_announced(
    tenant: dict[str, Any], tenant_admin: Caller, new_user: Any
) -> None:
    receiver = Receiver(free_port(), statuses=[500, 503, 200])
    hook = await create_webhook(tenant_admin, tenant, receiver.url, "content.pending_approval")
    editor = await new_user(tenant["id"], "editor")
    base = f"/api/v1/tenants/{tenant['id']}/content"
    with serving(receiver):
        created = await editor.post(
            base, {"name": "Menu", "kind": "text", "body": "Soup", "duration_s": 10}
        )
        item = await created.get_json()
        # A draft is not news; its submission is.
        submitted = await editor.post(f"{base}/{item['id']}/submit")
        assert submitted.status_code == 200
        items = await log_when(
            tenant_admin, tenant, hook, lambda i: i and i[0]["state"] == "delivered"
        )
    assert items[0]["attempts"] == 3
    events = bodies(receiver, hook["secret"])
    assert len(events) == 3
    assert len({e["id"] for e in events}) == 1
    assert events[0]["type"] == "content.pending_approval"
    assert events[0]["data"]["content_id"] == item["id"]
    assert events[0]["data"]["submitted_by"] == f"user:{editor.user_id}"
    assert [r.headers["signage-attempt"] for r in receiver.snapshot()] == ["1", "2", "3"]


async def test_a_rolled_back_change_sends_nothing(
    tenant: dict[str, Any], tenant_admin: Caller, admin: Caller, settings: Settings
) -> None:
    receiver = Receiver(free_port())
    await create_webhook(tenant_admin, tenant, receiver.url, "emergency.triggered")
    suspended = await admin.post(f"/api/v1/tenants/{tenant['id']}/suspend")
    assert suspended.status_code == 200
    refused = await admin.post(
        f"/api/v1/tenants/{tenant['id']}/emergencies",
        {"message": "x", "severity": "info", "target": {"all": True}},
    )
    assert refused.status_code == 409
    assert settings.database.url is not None
    with psycopg.connect(settings.database.url) as conn:
        assert conn.execute("SELECT count(*) FROM webhook_deliveries").fetchone() == (0,)


async def test_a_screen_gone_for_the_offline_time_is_reported_then_its_return(
    tenant: dict[str, Any],
    tenant_admin: Caller,
    approved: Any,
    play: Any,
    settings: Settings,
) -> None:
    receiver = Receiver(free_port())
    hook = await create_webhook(
        tenant_admin, tenant, receiver.url, "device.offline", "device.online"
    )
    screen: Screen = await approved("Atrium", groups=("hall",))
    with serving(receiver):
        async with play(screen):
            pass  # connected, then gone: its last-seen time is written as it leaves
        await eventually(lambda: len(receiver.snapshot()) >= 1, timeout_s=WAIT_S)
        async with play(screen):
            await eventually(lambda: len(receiver.snapshot()) >= 2, timeout_s=WAIT_S)
    offline, online = bodies(receiver, hook["secret"])
    assert offline["type"] == "device.offline"
    assert offline["data"]["device_id"] == screen.device_id
    assert offline["data"]["name"] == "Atrium"
    assert offline["data"]["groups"] == ["hall"]
    assert online["type"] == "device.online"
    assert online["data"]["offline_since"] == offline["data"]["last_seen_at"]


async def test_an_emergency_not_acknowledged_in_time_is_reported_once(
    tenant: dict[str, Any],
    tenant_admin: Caller,
    operator: Caller,
    approved: Any,
    play: Any,
) -> None:
    receiver = Receiver(free_port())
    hook = await create_webhook(tenant_admin, tenant, receiver.url, "emergency.delivery_incomplete")
    quiet: Screen = await approved("Quiet")
    acking: Screen = await approved("Acking")
    base = f"/api/v1/tenants/{tenant['id']}/emergencies"
    with serving(receiver):
        async with play(quiet), play(acking) as player:
            response = await operator.post(
                base, {"message": "Fire", "severity": "critical", "target": {"all": True}}
            )
            emergency = await response.get_json()
            frame = await player.emergency()
            await player.ack(frame["id"])
            await eventually(lambda: len(receiver.snapshot()) >= 1, timeout_s=WAIT_S)
    (event,) = bodies(receiver, hook["secret"])
    assert event["type"] == "emergency.delivery_incomplete"
    assert event["data"]["emergency_id"] == emergency["id"]
    assert event["data"]["targeted"] == 2
    assert event["data"]["delivered"] == 1
    assert event["data"]["pending"] + event["data"]["offline"] == 1


async def test_the_sender_never_follows_a_redirect() -> None:
    receiver = Receiver(free_port(), statuses=[302])
    policy = DestinationPolicy.parse(
        allow_public=False, allowed_networks="127.0.0.1/32", allow_http=True
    )
    with serving(receiver):
        outcome = await HttpWebhookSender(policy, timeout_s=2.0).post(receiver.url, b"{}", {})
    assert outcome.status == 302
    assert not outcome.delivered
    assert outcome.error is not None
    assert "redirects are not followed" in outcome.error
    assert len(receiver.snapshot()) == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_the_sender_refuses_loopback_unless_it_is_allowed(host: str) -> None:
    receiver = Receiver(free_port())
    with serving(receiver):
        outcome = await HttpWebhookSender(DestinationPolicy(allow_http=True), timeout_s=2.0).post(
            f"http://{host}:{receiver.port}/hooks", b"{}", {}
        )
    assert not outcome.delivered
    assert outcome.status is None
    assert outcome.error is not None
    assert "127.0.0.1" in outcome.error
    assert receiver.snapshot() == []


async def test_a_receiver_that_never_answers_times_out() -> None:
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        policy = DestinationPolicy.parse(
            allow_public=False, allowed_networks="127.0.0.1/32", allow_http=True
        )
        started = time.monotonic()
        outcome = await HttpWebhookSender(policy, timeout_s=0.5).post(
            f"http://127.0.0.1:{port}/", b"{}", {}
        )
    assert time.monotonic() - started < 2.0
    assert outcome.error is not None
    assert "within 0.5 s" in outcome.error
