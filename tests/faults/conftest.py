"""Every test here kills, cuts or floods real processes: marked ``faults`` (and ``slow``),
so ``make test`` leaves them to ``make faults``; ``.ci/run`` runs both."""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.faults)
            item.add_marker(pytest.mark.slow)
