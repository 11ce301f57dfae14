"""Proof-of-play fixtures: fast writes, and the device, emergency and admin fixtures."""

from __future__ import annotations

from typing import Any

import pytest

from actors.settings import Settings
from tests.auth.conftest import (  # noqa: F401 - fixtures re-exported for these tests
    FAST_HASHING,
    admin,
    new_tenant,
    new_user,
    other_tenant,
    tenant_admin,
)
from tests.conftest import make_settings
from tests.devices.conftest import (  # noqa: F401 - fixtures re-exported for these tests
    app,
    approved,
    manager,
    register,
    tenant,
    ws_url,
)
from tests.emergencies.conftest import EMERGENCY_TIMERS, play  # noqa: F401

PLAY_TIMERS: dict[str, Any] = {
    "play_flush_s": 0.05,
    "play_items_burst": 40,
    "play_items_per_s": 1.0,
}


@pytest.fixture
def settings(db_clean: str) -> Settings:
    return make_settings(db_clean, **FAST_HASHING, **EMERGENCY_TIMERS, **PLAY_TIMERS)
