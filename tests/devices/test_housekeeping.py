"""Housekeeping: expired registrations are deleted; a failing job never stops the others."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import psycopg
import pytest
from quart import Quart

from actors.services.housekeeping import Housekeeping, Job
from tests.auth.conftest import container_of
from tests.devices.conftest import Screen

pytestmark = pytest.mark.anyio


async def test_expired_registrations_are_purged(
    app: Quart, register: Callable[..., Awaitable[Screen]], database_url: str
) -> None:
    expired, live = await register("old"), await register("new")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE devices SET pairing_expires_at = now() - interval '1 minute' WHERE id = %s",
            (expired.device_id,),
        )
    assert await container_of(app).devices.purge_expired_registrations() == 1
    client = app.test_client()
    gone = await client.get("/api/v1/devices/self", headers=expired.auth)
    kept = await client.get("/api/v1/devices/self", headers=live.auth)
    assert (gone.status_code, kept.status_code) == (401, 200)


async def test_a_failing_job_does_not_stop_the_others() -> None:
    now = [0.0]
    ran: list[str] = []

    async def broken() -> None:
        ran.append("broken")
        raise RuntimeError("database hiccup")

    async def fine() -> None:
        ran.append("fine")

    service = Housekeeping([Job("broken", 10, broken), Job("fine", 10, fine)], clock=lambda: now[0])
    await service.run_due()
    assert ran == []  # nothing is due before its first period
    now[0] = 10.0
    await service.run_due()
    now[0] = 15.0
    await service.run_due()  # not due again yet
    now[0] = 20.0
    await service.run_due()
    assert ran == ["broken", "fine", "broken", "fine"]
