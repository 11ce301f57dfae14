"""Fixtures for the metrics and logs: the app on a real Hypercorn with screens, users and
an emergency operator (the emergency fixtures), and a scrape of ``GET /metrics``."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from prometheus_client.parser import text_string_to_metric_families
from quart import Quart

from tests.auth.conftest import (  # noqa: F401 - fixtures re-exported for these tests
    FAST_HASHING,
    Caller,
    admin,
    new_tenant,
    new_user,
    other_tenant,
)
from tests.devices.conftest import (  # noqa: F401 - fixtures re-exported for these tests
    Screen,
    app,
    approved,
    manager,
    register,
    tenant,
    ws_url,
)
from tests.emergencies.conftest import (  # noqa: F401 - fixtures re-exported for these tests
    operator,
    play,
    settings,
    viewer,
)

pytestmark = pytest.mark.anyio

_TYPE = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)
_SUFFIXES = {"histogram": ("_bucket", "_count", "_sum"), "summary": ("_count", "_sum")}


@dataclass(frozen=True)
class Scrape:
    """One ``GET /metrics`` answer, parsed with prometheus-client's own parser."""

    text: str

    def value(self, name: str, **labels: str) -> float | None:
        for family in text_string_to_metric_families(self.text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        return None

    def series(self, name: str) -> list[dict[str, str]]:
        """The label sets of every sample called ``name``."""
        return [
            dict(sample.labels)
            for family in text_string_to_metric_families(self.text)
            for sample in family.samples
            if sample.name == name
        ]

    def names(self) -> set[str]:
        """Every name a query can use: declared families (with a histogram's suffixes)
        whether or not they have samples yet, and every sample's name."""
        found: set[str] = set()
        for name, kind in _TYPE.findall(self.text):
            found.add(name)
            found.update(name + suffix for suffix in _SUFFIXES.get(kind, ()))
        for family in text_string_to_metric_families(self.text):
            found.update(sample.name for sample in family.samples)
        return found


async def scrape(app: Quart) -> Scrape:
    response = await app.test_client().get("/metrics")
    assert response.status_code == 200
    return Scrape(await response.get_data(as_text=True))
