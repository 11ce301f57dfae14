"""A screen may acknowledge only an emergency that targets it (issue 14, info item): an
ack naming another screen's emergency would make the delivery report count a delivery that
never happened. The batched writer drops it; the targeted screens' acks in the same batch
are kept."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from quart import Quart

from actors.domain.emergencies import EmergencyAck
from actors.domain.rbac import Role
from tests.auth.conftest import Caller, container_of
from tests.devices.conftest import Screen

pytestmark = pytest.mark.anyio


async def test_acks_for_emergencies_that_do_not_target_the_screen_are_refused(
    app: Quart,
    approved: Callable[..., Awaitable[Screen]],
    tenant: dict[str, Any],
    new_user: Callable[..., Awaitable[Caller]],
) -> None:
    lobby = await approved("Lobby", groups=("lobby",))
    kitchen = await approved("Kitchen", groups=("kitchen",))
    operator = await new_user(tenant["id"], Role.EMERGENCY_OPERATOR)
    base = f"/api/v1/tenants/{tenant['id']}/emergencies"
    answer = await operator.post(
        base, {"message": "Spill", "severity": "warning", "target": {"groups": ["kitchen"]}}
    )
    started = await answer.get_json()
    assert answer.status_code == 201, started
    tid, eid, at = UUID(tenant["id"]), UUID(started["id"]), datetime.now(UTC)
    batch = [
        EmergencyAck(tid, UUID(screen.device_id), eid, at, "test-node")
        for screen in (lobby, kitchen)
    ]
    async with container_of(app).store.platform() as tx:
        stored = await tx.emergencies.record_acks(batch)
    assert len(stored) == 1  # the kitchen's; the lobby was never sent this emergency
    detail = await (await operator.get(f"{base}/{eid}")).get_json()
    assert detail["delivery"]["targeted"] == 1
    assert detail["delivery"]["delivered"] == 1
