"""Device fixtures: the app served by a real Hypercorn, screens registered and claimed.

Reuses the admin-API fixtures of ``tests/auth/conftest.py`` (platform admin, tenants,
users, fast password hashing).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from quart import Quart

from actors.domain.rbac import Role
from actors.settings import Settings
from edge.app import create_app
from store.db import Database
from store.uow import Store
from tests.auth.conftest import (  # noqa: F401 - fixtures re-exported for device tests
    FAST_HASHING,
    Caller,
    admin,
    new_tenant,
    new_user,
)
from tests.conftest import make_settings
from tests.live import served

pytestmark = pytest.mark.anyio

#: Short session timers so the timeout paths are tested in well under a second.
DEVICE_TIMERS: dict[str, Any] = {
    "ws_hello_timeout_s": 0.5,
    "ws_idle_timeout_s": 1.5,
    # Small enough to exhaust in a test, large enough for every other test's screens.
    "registration_burst": 30,
    "registration_per_s": 0.01,
}


@pytest.fixture
async def store(db_clean: str) -> AsyncIterator[Store]:
    """The store over a small pool of its own, for tests of services below the app."""
    db = Database(db_clean, min_size=1, max_size=2, application_name="test:devices")
    await db.open(wait=True)
    try:
        yield Store(db)
    finally:
        await db.close()


@pytest.fixture
def settings(db_clean: str) -> Settings:
    return make_settings(db_clean, **FAST_HASHING, **DEVICE_TIMERS)


@pytest.fixture
async def app(settings: Settings, send_buffer_bytes: int | None) -> AsyncIterator[Quart]:
    application = create_app(settings)
    async with served(application, settings, send_buffer_bytes=send_buffer_bytes) as port:
        application.config["TEST_PORT"] = port
        yield application


@pytest.fixture
def ws_url(app: Quart) -> str:
    return f"ws://127.0.0.1:{app.config['TEST_PORT']}/api/v1/devices/ws"


@dataclass
class Screen:
    """A registered device: what the screen knows about itself."""

    device_id: str
    secret: str
    pairing_code: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


@pytest.fixture
def register(app: Quart) -> Callable[..., Awaitable[Screen]]:
    client = app.test_client()

    async def run(hardware_id: str = "hw-1", ip: str = "198.51.100.7") -> Screen:
        response = await client.post(
            "/api/v1/devices/register",
            json={"hardware_id": hardware_id, "model": "test-player"},
            scope_base={"client": (ip, 5000)},
        )
        body = await response.get_json()
        assert response.status_code == 201, body
        return Screen(body["device_id"], body["device_secret"], body["pairing_code"])

    return run


@pytest.fixture
async def tenant(
    new_tenant: Callable[..., Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    return await new_tenant()


@pytest.fixture
async def manager(tenant: dict[str, Any], new_user: Callable[..., Awaitable[Caller]]) -> Caller:
    return await new_user(tenant["id"], Role.DEVICE_MANAGER)


@pytest.fixture
def approved(
    register: Callable[..., Awaitable[Screen]], manager: Caller, tenant: dict[str, Any]
) -> Callable[..., Awaitable[Screen]]:
    """Register a screen and claim it into ``tenant`` (optionally into ``groups``)."""

    async def run(name: str = "Lobby", groups: tuple[str, ...] = ()) -> Screen:
        screen = await register(hardware_id=f"hw-{name}")
        response = await manager.post(
            f"/api/v1/tenants/{tenant['id']}/devices/claim",
            {"pairing_code": screen.pairing_code, "name": name, "groups": list(groups)},
        )
        assert response.status_code == 200, await response.get_json()
        return screen

    return run
